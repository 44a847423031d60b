package synqtest

import (
	"fmt"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/schema"
)

func plainProperties(props builder.Properties) map[string]any {
	out := make(map[string]any, len(props))
	for name, v := range props {
		out[name] = Plain(v)
	}
	return out
}

// Plain is the plain Go value of a property value, as Change.Properties
// and Row.Properties hold it (see the package documentation): to compare
// with a builder value, compare with Plain(builder.Select("open")).
func Plain(v builder.Value) any {
	switch v.Type {
	case schema.TypeTitle, schema.TypeRichText:
		s := ""
		for _, t := range v.Text {
			s += t.Content
		}
		return s
	case schema.TypeNumber:
		if v.Number == nil {
			return nil
		}
		return *v.Number
	case schema.TypeCheckbox:
		return v.Checked
	case schema.TypeSelect, schema.TypeStatus:
		if len(v.Names) == 0 {
			return ""
		}
		return v.Names[0]
	case schema.TypeMultiSelect:
		return list(v.Names)
	case schema.TypePeople:
		return list(v.Emails)
	case schema.TypeRelation:
		return list(v.Keys)
	case schema.TypeDate:
		if v.Date == nil {
			return nil
		}
		return *v.Date
	case schema.TypeFiles:
		return list(v.Files)
	case schema.TypeURL, schema.TypeEmail, schema.TypePhoneNumber:
		return v.Scalar
	case schema.TypePlace:
		if v.Place == nil {
			return nil
		}
		return *v.Place
	}
	// A type added to schema without its plain form here: the
	// conformance test (internal/conformance) fails on it.
	return fmt.Sprintf("synqtest: no plain form for %s values", v.Type)
}

func list[T any](s []T) []T {
	return append(make([]T, 0, len(s)), s...)
}

// Content returns the Markdown Row.Content shows for a page body written
// from markdown: the same blocks, in synqtest's one spelling ("-" bullets,
// "*italic*", numbered items counted up). Compare a row's body with it:
//
//	want, _ := synqtest.Content(ticket.Description)
//	if row.Content != want { … }
//
// The error is the one an executor would fail the page with (a body over
// a page's limits, invalid UTF-8).
func Content(markdown string) (string, error) {
	blocks, err := pagecontent.Convert(markdown)
	if err != nil {
		return "", err
	}
	return pagecontent.Markdown(blocks), nil
}

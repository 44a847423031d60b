package notion

import (
	"encoding/json"
	"fmt"
)

// PropertyValue is the value of one page property. Type says which field
// holds it; a nil pointer or empty list clears the property. In requests,
// people are sent as {object:"user", id} and select-like options by name.
// Types this package does not model (formula, rollup, unique_id…) keep
// the value as read.
type PropertyValue struct {
	ID          string
	Type        string
	Title       []RichText
	RichText    []RichText
	Number      *float64
	Select      *SelectOption
	Status      *SelectOption
	MultiSelect []SelectOption
	Date        *Date
	People      []User
	Files       []File
	Checkbox    bool
	URL         *string
	Email       *string
	PhoneNumber *string
	Place       *Place
	Relation    []PageRef
	// HasMore is set on relation values read from a page when Notion cut
	// the list at 25 references.
	HasMore bool

	raw json.RawMessage // value of a type not modelled here
}

// Date is a date or date-time, or a range. Start and End are ISO 8601;
// End and TimeZone are optional.
type Date struct {
	Start    string `json:"start"`
	End      string `json:"end,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
}

// File is an entry of a files property.
type File struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	External *FileURL `json:"external,omitempty"`
	File     *FileURL `json:"file,omitempty"`
}

// ExternalFile returns a file entry linking to url.
func ExternalFile(name, url string) File {
	return File{Name: name, Type: "external", External: &FileURL{URL: url}}
}

// Place is a location.
type Place struct {
	Lat           float64 `json:"lat"`
	Lon           float64 `json:"lon"`
	Name          string  `json:"name,omitempty"`
	Address       string  `json:"address,omitempty"`
	GooglePlaceID string  `json:"google_place_id,omitempty"`
}

// PageRef references a page in a relation.
type PageRef struct {
	ID string `json:"id"`
}

// Value constructors, one per type. Each returns a value ready to write.

// TitleValue is a title made of items (use Text / LinkText).
func TitleValue(items ...RichText) PropertyValue {
	return PropertyValue{Type: TypeTitle, Title: items}
}

// RichTextValue is a text value made of items.
func RichTextValue(items ...RichText) PropertyValue {
	return PropertyValue{Type: TypeRichText, RichText: items}
}

// NumberValue is a number; nil clears it.
func NumberValue(n *float64) PropertyValue { return PropertyValue{Type: TypeNumber, Number: n} }

// CheckboxValue is a checkbox.
func CheckboxValue(b bool) PropertyValue { return PropertyValue{Type: TypeCheckbox, Checkbox: b} }

// SelectValue chooses the option named name; "" clears it.
func SelectValue(name string) PropertyValue {
	return PropertyValue{Type: TypeSelect, Select: optionNamed(name)}
}

// StatusValue sets the status named name; "" clears it.
func StatusValue(name string) PropertyValue {
	return PropertyValue{Type: TypeStatus, Status: optionNamed(name)}
}

// MultiSelectValue chooses the options named names.
func MultiSelectValue(names ...string) PropertyValue {
	v := PropertyValue{Type: TypeMultiSelect, MultiSelect: make([]SelectOption, len(names))}
	for i, n := range names {
		v.MultiSelect[i] = SelectOption{Name: n}
	}
	return v
}

// DateValue is a date; nil clears it.
func DateValue(d *Date) PropertyValue { return PropertyValue{Type: TypeDate, Date: d} }

// PeopleValue names users by id.
func PeopleValue(userIDs ...string) PropertyValue {
	v := PropertyValue{Type: TypePeople, People: make([]User, len(userIDs))}
	for i, id := range userIDs {
		v.People[i] = User{Object: "user", ID: id}
	}
	return v
}

// FilesValue lists files.
func FilesValue(files ...File) PropertyValue { return PropertyValue{Type: TypeFiles, Files: files} }

// URLValue is a URL; "" clears it.
func URLValue(s string) PropertyValue { return PropertyValue{Type: TypeURL, URL: stringOrNil(s)} }

// EmailValue is an email address; "" clears it.
func EmailValue(s string) PropertyValue { return PropertyValue{Type: TypeEmail, Email: stringOrNil(s)} }

// PhoneNumberValue is a phone number; "" clears it.
func PhoneNumberValue(s string) PropertyValue {
	return PropertyValue{Type: TypePhoneNumber, PhoneNumber: stringOrNil(s)}
}

// PlaceValue is a place; nil clears it.
func PlaceValue(p *Place) PropertyValue { return PropertyValue{Type: TypePlace, Place: p} }

// RelationValue relates the pages with ids.
func RelationValue(pageIDs ...string) PropertyValue {
	v := PropertyValue{Type: TypeRelation, Relation: make([]PageRef, len(pageIDs))}
	for i, id := range pageIDs {
		v.Relation[i] = PageRef{ID: id}
	}
	return v
}

func optionNamed(name string) *SelectOption {
	if name == "" {
		return nil
	}
	return &SelectOption{Name: name}
}

func stringOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Text is the value as plain text for title and rich-text values.
func (v PropertyValue) Text() string {
	if v.Type == TypeTitle {
		return PlainText(v.Title)
	}
	return PlainText(v.RichText)
}

type userRef struct {
	Object string `json:"object"`
	ID     string `json:"id"`
}

type dateWire struct {
	Start    string  `json:"start"`
	End      *string `json:"end"`
	TimeZone *string `json:"time_zone"`
}

// requestOption names an option the way Notion resolves it: by name, or by
// id when only the id is known.
func requestOption(o SelectOption) SelectOption {
	if o.Name != "" {
		return SelectOption{Name: o.Name}
	}
	return SelectOption{ID: o.ID}
}

// MarshalJSON writes the request form {"type": T, T: value}: nil clears
// (null for scalars and objects, [] for lists) and a checkbox is always a
// bool.
func (v PropertyValue) MarshalJSON() ([]byte, error) {
	var val any
	switch v.Type {
	case TypeTitle:
		val = nonNil(v.Title)
	case TypeRichText:
		val = nonNil(v.RichText)
	case TypeNumber:
		val = v.Number
	case TypeCheckbox:
		val = v.Checkbox
	case TypeSelect, TypeStatus:
		o := v.Select
		if v.Type == TypeStatus {
			o = v.Status
		}
		if o != nil {
			val = requestOption(*o)
		}
	case TypeMultiSelect:
		opts := make([]SelectOption, len(v.MultiSelect))
		for i, o := range v.MultiSelect {
			opts[i] = requestOption(o)
		}
		val = opts
	case TypeDate:
		if v.Date != nil {
			val = dateWire{Start: v.Date.Start, End: stringOrNil(v.Date.End), TimeZone: stringOrNil(v.Date.TimeZone)}
		}
	case TypePeople:
		refs := make([]userRef, len(v.People))
		for i, u := range v.People {
			refs[i] = userRef{Object: "user", ID: u.ID}
		}
		val = refs
	case TypeFiles:
		val = nonNil(v.Files)
	case TypeURL:
		val = emptyToNil(v.URL)
	case TypeEmail:
		val = emptyToNil(v.Email)
	case TypePhoneNumber:
		val = emptyToNil(v.PhoneNumber)
	case TypePlace:
		val = v.Place
	case TypeRelation:
		refs := make([]PageRef, len(v.Relation))
		for i, r := range v.Relation {
			refs[i] = PageRef{ID: r.ID}
		}
		val = refs
	case "":
		return nil, fmt.Errorf("notion: property value has no type")
	default:
		if v.raw != nil {
			val = v.raw
		}
	}
	b, err := json.Marshal(val)
	if err != nil {
		return nil, err
	}
	t, _ := json.Marshal(v.Type)
	return json.Marshal(map[string]json.RawMessage{"type": t, v.Type: b})
}

// emptyToNil treats an empty string like nil: Notion clears a url, email
// or phone number with null and rejects "".
func emptyToNil(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// UnmarshalJSON reads the response form (or the request form).
func (v *PropertyValue) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*v = PropertyValue{}
	if id, ok := m["id"]; ok {
		if err := json.Unmarshal(id, &v.ID); err != nil {
			return fmt.Errorf("property value id: %w", err)
		}
	}
	if t, ok := m["type"]; ok {
		if err := json.Unmarshal(t, &v.Type); err != nil {
			return fmt.Errorf("property value type: %w", err)
		}
	} else {
		for k := range m {
			if k != "id" && k != "has_more" {
				v.Type = k
			}
		}
	}
	if hm, ok := m["has_more"]; ok {
		_ = json.Unmarshal(hm, &v.HasMore)
	}
	raw, ok := m[v.Type]
	if !ok || string(raw) == "null" {
		return nil
	}
	var dst any
	switch v.Type {
	case TypeTitle:
		dst = &v.Title
	case TypeRichText:
		dst = &v.RichText
	case TypeNumber:
		dst = &v.Number
	case TypeCheckbox:
		dst = &v.Checkbox
	case TypeSelect:
		dst = &v.Select
	case TypeStatus:
		dst = &v.Status
	case TypeMultiSelect:
		dst = &v.MultiSelect
	case TypeDate:
		dst = &v.Date
	case TypePeople:
		dst = &v.People
	case TypeFiles:
		dst = &v.Files
	case TypeURL:
		dst = &v.URL
	case TypeEmail:
		dst = &v.Email
	case TypePhoneNumber:
		dst = &v.PhoneNumber
	case TypePlace:
		dst = &v.Place
	case TypeRelation:
		dst = &v.Relation
	default:
		v.raw = append(json.RawMessage(nil), raw...)
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s value: %w", v.Type, err)
	}
	return nil
}

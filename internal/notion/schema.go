package notion

import (
	"encoding/json"
	"fmt"
)

// Property types.
const (
	TypeTitle       = "title"
	TypeRichText    = "rich_text"
	TypeNumber      = "number"
	TypeSelect      = "select"
	TypeMultiSelect = "multi_select"
	TypeStatus      = "status"
	TypeDate        = "date"
	TypePeople      = "people"
	TypeFiles       = "files"
	TypeCheckbox    = "checkbox"
	TypeURL         = "url"
	TypeEmail       = "email"
	TypePhoneNumber = "phone_number"
	TypePlace       = "place"
	TypeRelation    = "relation"
)

// Relation kinds.
const (
	SingleProperty = "single_property"
	DualProperty   = "dual_property"
)

// PropertySchema is the configuration of one data source property. In a
// request, Name renames the property; ID is read-only. The fields used
// depend on Type: Format (number), Options (select, multi_select, status),
// Groups (status), Relation (relation). Types this package does not model
// (formula, rollup, unique_id…) keep their configuration as read.
type PropertySchema struct {
	ID          string
	Name        string
	Description string
	Type        string
	Format      string
	Options     []SelectOption
	Groups      []StatusGroup
	Relation    *RelationConfig

	raw json.RawMessage // configuration of a type not modelled here
}

// SelectOption is an option of a select, multi-select or status property,
// and the value of such a property. Requests name options by Name.
type SelectOption struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	Color       string `json:"color,omitempty"`
	Description string `json:"description,omitempty"`
}

// StatusGroup is a group of status options. Responses list OptionIDs;
// requests may name the options instead.
type StatusGroup struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name"`
	Color       string   `json:"color,omitempty"`
	OptionIDs   []string `json:"option_ids,omitempty"`
	OptionNames []string `json:"option_names,omitempty"`
}

// RelationConfig configures a relation to another data source. Type is
// SingleProperty or DualProperty; a dual relation shows on the related data
// source as SyncedPropertyName. DatabaseID and SyncedPropertyID are
// read-only.
type RelationConfig struct {
	DataSourceID       string
	DatabaseID         string
	Type               string
	SyncedPropertyName string
	SyncedPropertyID   string
}

type relationWire struct {
	DataSourceID   string    `json:"data_source_id"`
	DatabaseID     string    `json:"database_id,omitempty"`
	Type           string    `json:"type"`
	SingleProperty *struct{} `json:"single_property,omitempty"`
	DualProperty   *dualWire `json:"dual_property,omitempty"`
}

type dualWire struct {
	SyncedPropertyName string `json:"synced_property_name,omitempty"`
	SyncedPropertyID   string `json:"synced_property_id,omitempty"`
}

type optionsWire struct {
	Options []SelectOption `json:"options"`
	Groups  []StatusGroup  `json:"groups,omitempty"`
}

// MarshalJSON writes the request form {"type": T, T: config} (plus
// "name" when renaming).
func (p PropertySchema) MarshalJSON() ([]byte, error) {
	var cfg any
	switch p.Type {
	case TypeTitle, TypeRichText, TypeDate, TypePeople, TypeFiles, TypeCheckbox,
		TypeURL, TypeEmail, TypePhoneNumber, TypePlace:
		cfg = struct{}{}
	case TypeNumber:
		if p.Format == "" {
			cfg = struct{}{}
		} else {
			cfg = struct {
				Format string `json:"format"`
			}{p.Format}
		}
	case TypeSelect, TypeMultiSelect:
		cfg = optionsWire{Options: nonNil(p.Options)}
	case TypeStatus:
		cfg = optionsWire{Options: nonNil(p.Options), Groups: p.Groups}
	case TypeRelation:
		if p.Relation == nil {
			return nil, fmt.Errorf("notion: relation property %q has no relation config (data source id)", p.Name)
		}
		w := relationWire{DataSourceID: p.Relation.DataSourceID, Type: p.Relation.Type}
		switch w.Type {
		case "", SingleProperty:
			w.Type = SingleProperty
			w.SingleProperty = &struct{}{}
		case DualProperty:
			w.DualProperty = &dualWire{SyncedPropertyName: p.Relation.SyncedPropertyName}
		default:
			return nil, fmt.Errorf("notion: relation property %q: type %q is neither %s nor %s", p.Name, w.Type, SingleProperty, DualProperty)
		}
		cfg = w
	case "":
		return nil, fmt.Errorf("notion: property schema %q has no type", p.Name)
	default:
		if p.raw == nil {
			cfg = struct{}{}
		} else {
			cfg = p.raw
		}
	}
	c, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{p.Type: c}
	m["type"], _ = json.Marshal(p.Type)
	if p.Name != "" {
		m["name"], _ = json.Marshal(p.Name)
	}
	if p.Description != "" {
		m["description"], _ = json.Marshal(p.Description)
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the response form (id, name, type, config) or the
// request form.
func (p *PropertySchema) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*p = PropertySchema{}
	for k, dst := range map[string]*string{"id": &p.ID, "name": &p.Name, "description": &p.Description, "type": &p.Type} {
		if v, ok := m[k]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("property %s: %w", k, err)
			}
		}
	}
	if p.Type == "" {
		// A request may omit "type": the one config key names it.
		for k := range m {
			if k != "id" && k != "name" && k != "description" {
				p.Type = k
			}
		}
	}
	cfg := m[p.Type]
	if len(cfg) == 0 || string(cfg) == "null" {
		return nil
	}
	var err error
	switch p.Type {
	case TypeNumber:
		var n struct {
			Format string `json:"format"`
		}
		err = json.Unmarshal(cfg, &n)
		p.Format = n.Format
	case TypeSelect, TypeMultiSelect, TypeStatus:
		var o optionsWire
		err = json.Unmarshal(cfg, &o)
		p.Options, p.Groups = o.Options, o.Groups
	case TypeRelation:
		var w relationWire
		err = json.Unmarshal(cfg, &w)
		p.Relation = &RelationConfig{DataSourceID: w.DataSourceID, DatabaseID: w.DatabaseID, Type: w.Type}
		if w.DualProperty != nil {
			p.Relation.SyncedPropertyName = w.DualProperty.SyncedPropertyName
			p.Relation.SyncedPropertyID = w.DualProperty.SyncedPropertyID
		}
	case TypeTitle, TypeRichText, TypeDate, TypePeople, TypeFiles, TypeCheckbox,
		TypeURL, TypeEmail, TypePhoneNumber, TypePlace:
	default:
		p.raw = append(json.RawMessage(nil), cfg...)
	}
	if err != nil {
		return fmt.Errorf("%s property %q: %w", p.Type, p.Name, err)
	}
	return nil
}

// OptionNames lists the names of the options.
func (p PropertySchema) OptionNames() []string {
	names := make([]string, len(p.Options))
	for i, o := range p.Options {
		names[i] = o.Name
	}
	return names
}

// nonNil makes an absent list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

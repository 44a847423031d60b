package schema

// Title is the title property; every database has exactly one.
func Title() Property { return Property{Type: TypeTitle} }

// RichText is a text property.
func RichText() Property { return Property{Type: TypeRichText} }

// Number is a number property, displayed with format (default Plain).
func Number(format ...NumberFormat) Property {
	p := Property{Type: TypeNumber}
	if len(format) > 0 {
		p.Format = format[0]
	}
	return p
}

// Select is a single choice among options. Values naming an option that is
// not declared are added by Notion on first use.
func Select(options ...Option) Property { return Property{Type: TypeSelect, Options: options} }

// MultiSelect is a set of choices among options.
func MultiSelect(options ...Option) Property {
	return Property{Type: TypeMultiSelect, Options: options}
}

// Status is a status property. Notion arranges the options in groups
// (To-do, In progress, Complete); options not in any group land in To-do.
func Status(options []Option, groups ...StatusGroup) Property {
	return Property{Type: TypeStatus, Options: options, Groups: groups}
}

// Date is a date, date-time or date range property.
func Date() Property { return Property{Type: TypeDate} }

// People is a property of workspace members, written by email.
func People() Property { return Property{Type: TypePeople} }

// Files is a property of external files (links).
func Files() Property { return Property{Type: TypeFiles} }

// Checkbox is a boolean property.
func Checkbox() Property { return Property{Type: TypeCheckbox} }

// URL is a web address property.
func URL() Property { return Property{Type: TypeURL} }

// Email is an email address property.
func Email() Property { return Property{Type: TypeEmail} }

// PhoneNumber is a phone number property.
func PhoneNumber() Property { return Property{Type: TypePhoneNumber} }

// Place is a location property (latitude, longitude, name, address).
func Place() Property { return Property{Type: TypePlace} }

// Relation links rows to rows of another managed database, named by its key.
// Values name the related rows by primary key. Pass a RelationConfig with
// TwoWay set to show the relation on the related database too:
//
//	schema.Relation("projects", schema.RelationConfig{TwoWay: true, RelatedPropertyName: "Tasks"})
func Relation(relatedDatabase string, cfg ...RelationConfig) Property {
	c := RelationConfig{}
	if len(cfg) > 0 {
		c = cfg[0]
	}
	c.Database = relatedDatabase
	return Property{Type: TypeRelation, Relation: &c}
}

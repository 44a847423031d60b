// Package conformance holds the property-type conformance test: every
// type of package schema, through every layer a value crosses on its way
// to Notion and back — a builder value, the engine's validation
// (engine.Validate), the database's schema as the engine declares it
// (schemaToNotion, the notion client's schema encoding, the emulator),
// the value's encoding (engine's valueToNotion, notion.PropertyValue's
// JSON), the emulator's checks and storage, and the decoding back
// (notion.PropertyValue, engine.ValueFromNotion, synqtest.Plain).
//
// A type added to schema without one of its parts fails the test: it
// lists the Type constants of package schema from its source, so a type
// missing from schema.Types fails too, and every type needs a case here.
// docs/contributing.md, "How to add a property type", lists the files in order.
package conformance

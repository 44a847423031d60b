package builder_test

import (
	"fmt"
	"time"

	"github.com/synqhq/synq/builder"
)

func ExampleDateTime() {
	ny, _ := time.LoadLocation("America/New_York")
	v := builder.DateTime(time.Date(2026, 11, 24, 9, 30, 0, 0, ny))
	fmt.Println(v.Date.Start, v.Date.TimeZone)
	u := builder.DateTime(time.Date(2026, 11, 24, 14, 30, 0, 0, time.UTC))
	fmt.Println(u.Date.Start, u.Date.TimeZone == "")
	// Output:
	// 2026-11-24T09:30:00 America/New_York
	// 2026-11-24T14:30:00Z true
}

func ExampleProperties() {
	props := builder.Properties{
		"Name":     builder.Title("Acme Corp"),
		"Seats":    builder.Int(42),
		"Plan":     builder.Select("enterprise"),
		"Owner":    builder.People("ada@example.com"),
		"Projects": builder.Relation("p-1", "p-2"),
	}
	for _, k := range []string{"Name", "Seats", "Plan", "Owner", "Projects"} {
		fmt.Printf("%s: %s\n", k, props[k])
	}
	// Output:
	// Name: Acme Corp
	// Seats: 42
	// Plan: enterprise
	// Owner: ada@example.com
	// Projects: p-1, p-2
}

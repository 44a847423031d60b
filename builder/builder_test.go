package builder_test

import (
	"testing"

	"github.com/synqhq/synq/builder"
)

type views uint32

// Number takes any integer or float as it is: no float64(n) at call sites.
func TestNumberAcceptsAnyNumber(t *testing.T) {
	var i8 int8 = -3
	for name, tc := range map[string]struct {
		v    builder.Value
		want float64
	}{
		"int":          {builder.Number(42), 42},
		"int8":         {builder.Number(i8), -3},
		"int64":        {builder.Number(int64(1) << 40), 1 << 40},
		"uint":         {builder.Number(uint(7)), 7},
		"defined type": {builder.Number(views(12)), 12},
		"float64":      {builder.Number(1.5), 1.5},
		"float32":      {builder.Number(float32(0.1)), 0.1},
		"Int":          {builder.Int(-9), -9},
	} {
		if tc.v.Number == nil || *tc.v.Number != tc.want || tc.v.Type != "number" {
			t.Errorf("%s: %+v, want number %v", name, tc.v, tc.want)
		}
	}
}

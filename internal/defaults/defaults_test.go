package defaults

import (
	"testing"
	"time"
)

func TestPositive(t *testing.T) {
	if got := Positive(0, 4); got != 4 {
		t.Errorf("Positive(0, 4) = %d", got)
	}
	if got := Positive(-3*time.Second, time.Minute); got != time.Minute {
		t.Errorf("a negative duration = %v", got)
	}
	if got := Positive(2*time.Second, time.Minute); got != 2*time.Second {
		t.Errorf("a set duration = %v", got)
	}
	if got := Positive(0.25, 0.5); got != 0.25 {
		t.Errorf("a set fraction = %v", got)
	}
}

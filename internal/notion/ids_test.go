package notion

import "testing"

func TestParseID(t *testing.T) {
	const want = "0123abcd-4567-89ab-cdef-0123456789ab"
	for _, in := range []string{
		"0123abcd456789abcdef0123456789ab",
		"0123ABCD-4567-89ab-cdef-0123456789ab",
		"https://www.notion.so/acme/Tickets-0123abcd456789abcdef0123456789ab?v=ffffffffffffffffffffffffffffffff",
		"https://www.notion.so/0123abcd456789abcdef0123456789ab",
		"http://127.0.0.1:7070/databases/0123abcd-4567-89ab-cdef-0123456789ab",
		"  0123abcd456789abcdef0123456789ab\n",
	} {
		got, err := ParseID(in)
		if err != nil || got != want {
			t.Errorf("ParseID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Tickets", "https://www.notion.so/acme/Tickets", "0123abcd456789abcdef0123456789a"} {
		if got, err := ParseID(in); err == nil {
			t.Errorf("ParseID(%q) = %q, want an error", in, got)
		}
	}
}

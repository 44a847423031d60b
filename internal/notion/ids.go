package notion

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

var (
	dashedID = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	plainID  = regexp.MustCompile(`(?i)(?:^|[^0-9a-f])([0-9a-f]{32})(?:$|[^0-9a-f])`)
)

// ParseID returns the dashed, lower-case id in s: an id with or without
// dashes, or the URL of a Notion object as the browser shows it
// (https://www.notion.so/workspace/Title-<32 hex digits>?v=…, or the
// emulator's …/databases/<id>). Only the URL's path is read: the "v="
// query parameter of a database URL names a view, not the database.
func ParseID(s string) (string, error) {
	in := strings.TrimSpace(s)
	p := in
	if u, err := url.Parse(in); err == nil && u.Scheme != "" {
		p = u.Path
	}
	var h string
	if all := dashedID.FindAllString(p, -1); len(all) > 0 {
		h = all[len(all)-1]
	} else if all := plainID.FindAllStringSubmatch(p, -1); len(all) > 0 {
		h = all[len(all)-1][1]
	}
	h = strings.ToLower(strings.ReplaceAll(h, "-", ""))
	if len(h) != 32 {
		return "", fmt.Errorf("%q holds no Notion id: give the database's URL (Share → Copy link, or the browser's address bar on the database's page) or its id (32 hexadecimal digits)", s)
	}
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

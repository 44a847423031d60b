package notion

import (
	"encoding/json"
	"time"
)

// Parent says where an object lives. Type names the key that holds the id;
// a page in a data source carries both data_source_id and database_id.
type Parent struct {
	Type         string `json:"type"`
	PageID       string `json:"page_id,omitempty"`
	DatabaseID   string `json:"database_id,omitempty"`
	DataSourceID string `json:"data_source_id,omitempty"`
	BlockID      string `json:"block_id,omitempty"`
	Workspace    bool   `json:"workspace,omitempty"`
}

// Icon is a page or database icon (or cover): an emoji, an external URL
// or a Notion-hosted file.
type Icon struct {
	Type     string   `json:"type"`
	Emoji    string   `json:"emoji,omitempty"`
	External *FileURL `json:"external,omitempty"`
	File     *FileURL `json:"file,omitempty"`
}

// FileURL is the location of an external or Notion-hosted file.
type FileURL struct {
	URL        string `json:"url"`
	ExpiryTime string `json:"expiry_time,omitempty"`
}

// EmojiIcon returns an emoji icon.
func EmojiIcon(emoji string) *Icon { return &Icon{Type: "emoji", Emoji: emoji} }

// ExternalIcon returns an icon shown from an external URL.
func ExternalIcon(url string) *Icon { return &Icon{Type: "external", External: &FileURL{URL: url}} }

// ExternalCover returns a page cover shown from an external image URL.
func ExternalCover(url string) *Icon { return &Icon{Type: "external", External: &FileURL{URL: url}} }

// User is a workspace member or bot. Property values and created_by carry
// partial users (object and id only).
type User struct {
	Object    string          `json:"object"`
	ID        string          `json:"id"`
	Type      string          `json:"type,omitempty"`
	Name      string          `json:"name,omitempty"`
	AvatarURL string          `json:"avatar_url,omitempty"`
	Person    *Person         `json:"person,omitempty"`
	Bot       json.RawMessage `json:"bot,omitempty"`
}

// Person holds a member's email.
type Person struct {
	Email string `json:"email,omitempty"`
}

// Email is the member's email, "" for bots and partial users.
func (u User) Email() string {
	if u.Person == nil {
		return ""
	}
	return u.Person.Email
}

// Page is a row of a data source (or a standalone page).
type Page struct {
	Object         string                   `json:"object"`
	ID             string                   `json:"id"`
	CreatedTime    time.Time                `json:"created_time"`
	LastEditedTime time.Time                `json:"last_edited_time"`
	CreatedBy      *User                    `json:"created_by,omitempty"`
	LastEditedBy   *User                    `json:"last_edited_by,omitempty"`
	Cover          *Icon                    `json:"cover"`
	Icon           *Icon                    `json:"icon"`
	Parent         Parent                   `json:"parent"`
	Archived       bool                     `json:"archived"`
	InTrash        bool                     `json:"in_trash"`
	IsLocked       bool                     `json:"is_locked"`
	Properties     map[string]PropertyValue `json:"properties"`
	URL            string                   `json:"url,omitempty"`
	PublicURL      string                   `json:"public_url,omitempty"`
	RequestID      string                   `json:"request_id,omitempty"`
}

// Database is a container of data sources. Under 2025-09-03 its schema
// lives on the data sources, listed in DataSources.
type Database struct {
	Object         string          `json:"object"`
	ID             string          `json:"id"`
	Title          []RichText      `json:"title"`
	Description    []RichText      `json:"description"`
	Icon           *Icon           `json:"icon"`
	Cover          *Icon           `json:"cover"`
	Parent         Parent          `json:"parent"`
	IsInline       bool            `json:"is_inline"`
	InTrash        bool            `json:"in_trash"`
	Archived       bool            `json:"archived"`
	IsLocked       bool            `json:"is_locked"`
	CreatedTime    time.Time       `json:"created_time"`
	LastEditedTime time.Time       `json:"last_edited_time"`
	CreatedBy      *User           `json:"created_by,omitempty"`
	LastEditedBy   *User           `json:"last_edited_by,omitempty"`
	DataSources    []DataSourceRef `json:"data_sources"`
	URL            string          `json:"url,omitempty"`
	PublicURL      string          `json:"public_url,omitempty"`
	RequestID      string          `json:"request_id,omitempty"`
}

// DataSourceRef names a data source of a database.
type DataSourceRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// PlainTitle is the database title as plain text.
func (d *Database) PlainTitle() string { return PlainText(d.Title) }

// DataSource is a table of a database: its schema (Properties) and rows.
type DataSource struct {
	Object         string                    `json:"object"`
	ID             string                    `json:"id"`
	Title          []RichText                `json:"title"`
	Description    []RichText                `json:"description"`
	Icon           *Icon                     `json:"icon"`
	Cover          *Icon                     `json:"cover"`
	Properties     map[string]PropertySchema `json:"properties"`
	Parent         Parent                    `json:"parent"`
	DatabaseParent Parent                    `json:"database_parent"`
	Archived       bool                      `json:"archived"`
	InTrash        bool                      `json:"in_trash"`
	IsInline       bool                      `json:"is_inline"`
	CreatedTime    time.Time                 `json:"created_time"`
	LastEditedTime time.Time                 `json:"last_edited_time"`
	CreatedBy      *User                     `json:"created_by,omitempty"`
	LastEditedBy   *User                     `json:"last_edited_by,omitempty"`
	URL            string                    `json:"url,omitempty"`
	PublicURL      string                    `json:"public_url,omitempty"`
	RequestID      string                    `json:"request_id,omitempty"`
}

// PlainTitle is the data source title as plain text.
func (d *DataSource) PlainTitle() string { return PlainText(d.Title) }

// PageList is one page of query results.
type PageList struct {
	Results    []Page `json:"results"`
	NextCursor string `json:"next_cursor,omitempty"`
	HasMore    bool   `json:"has_more"`
	RequestID  string `json:"request_id,omitempty"`
	// RequestStatus is set when Notion cut the query short; see
	// Incomplete.
	RequestStatus *RequestStatus `json:"request_status,omitempty"`
}

// RequestStatus says whether a query's result is whole. Notion returns at
// most 10,000 results per query (its filter and sorts): past that,
// has_more is false although rows remain, and every page of the query may
// carry {"type": "incomplete", "incomplete_reason":
// "query_result_limit_reached"}.
type RequestStatus struct {
	Type             string `json:"type"`
	IncompleteReason string `json:"incomplete_reason,omitempty"`
}

// RequestStatusIncomplete is RequestStatus.Type of a query Notion cut short.
const RequestStatusIncomplete = "incomplete"

// Incomplete reports whether Notion cut the query this page belongs to
// short: following next_cursor does not reach every matching row.
func (l *PageList) Incomplete() bool {
	return l.RequestStatus != nil && l.RequestStatus.Type == RequestStatusIncomplete
}

// UserList is one page of users.
type UserList struct {
	Results    []User `json:"results"`
	NextCursor string `json:"next_cursor,omitempty"`
	HasMore    bool   `json:"has_more"`
	RequestID  string `json:"request_id,omitempty"`
}

// SearchResult is a page or a data source found by Search; exactly one of
// Page and DataSource is set, as Object says.
type SearchResult struct {
	Object     string
	Page       *Page
	DataSource *DataSource
}

// SearchResults is one page of search results.
type SearchResults struct {
	Results    []SearchResult
	NextCursor string
	HasMore    bool
	RequestID  string
}

// rawList is the wire form of every list response.
type rawList struct {
	Object     string            `json:"object"`
	Results    []json.RawMessage `json:"results"`
	NextCursor string            `json:"next_cursor"` // null at the end
	HasMore    bool              `json:"has_more"`
	Type       string            `json:"type"`
	RequestID  string            `json:"request_id"`
	// RequestStatus is only sent on data source queries.
	RequestStatus *RequestStatus `json:"request_status"`
}

// objectOf peeks at the "object" key of a result.
func objectOf(b []byte) (string, error) {
	var o struct {
		Object string `json:"object"`
	}
	err := json.Unmarshal(b, &o)
	return o.Object, err
}

// UnmarshalJSON keeps only the pages of a page_or_data_source list.
func (l *PageList) UnmarshalJSON(b []byte) error {
	var raw rawList
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*l = PageList{NextCursor: raw.NextCursor, HasMore: raw.HasMore, RequestID: raw.RequestID, RequestStatus: raw.RequestStatus}
	l.Results = make([]Page, 0, len(raw.Results))
	for _, r := range raw.Results {
		obj, err := objectOf(r)
		if err != nil {
			return err
		}
		if obj != "page" {
			continue
		}
		var p Page
		if err := json.Unmarshal(r, &p); err != nil {
			return err
		}
		l.Results = append(l.Results, p)
	}
	return nil
}

// UnmarshalJSON reads a list of pages and data sources.
func (s *SearchResults) UnmarshalJSON(b []byte) error {
	var raw rawList
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = SearchResults{NextCursor: raw.NextCursor, HasMore: raw.HasMore, RequestID: raw.RequestID}
	for _, r := range raw.Results {
		obj, err := objectOf(r)
		if err != nil {
			return err
		}
		res := SearchResult{Object: obj}
		switch obj {
		case "page":
			res.Page = new(Page)
			err = json.Unmarshal(r, res.Page)
		case "data_source":
			res.DataSource = new(DataSource)
			err = json.Unmarshal(r, res.DataSource)
		default:
			continue // databases and blocks are not searched for here
		}
		if err != nil {
			return err
		}
		s.Results = append(s.Results, res)
	}
	return nil
}

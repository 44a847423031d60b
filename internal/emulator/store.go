package emulator

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The data model. Values are kept in their response form as decoded JSON
// (map[string]any, []any, string, float64, bool, nil), so rendering and
// persisting them is a json.Marshal.

type workspacePage struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Created time.Time `json:"created"`
}

type database struct {
	ID          string    `json:"id"`
	ParentPage  string    `json:"parent_page"`
	Title       []any     `json:"title"`
	Description []any     `json:"description"`
	Icon        any       `json:"icon"`
	Cover       any       `json:"cover"`
	IsInline    bool      `json:"is_inline"`
	InTrash     bool      `json:"in_trash"`
	Created     time.Time `json:"created"`
	Edited      time.Time `json:"edited"`
	DataSources []string  `json:"data_sources"`
}

type dataSource struct {
	ID       string      `json:"id"`
	Database string      `json:"database"`
	Title    []any       `json:"title"`
	Props    []*property `json:"props"` // in creation order
	InTrash  bool        `json:"in_trash"`
	Created  time.Time   `json:"created"`
	Edited   time.Time   `json:"edited"`
}

type property struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Type        string         `json:"type"`
	Config      map[string]any `json:"config"`
}

type page struct {
	ID         string         `json:"id"`
	DataSource string         `json:"data_source"`
	Props      map[string]any `json:"props"` // property id → value
	Icon       any            `json:"icon"`
	Cover      any            `json:"cover"`
	InTrash    bool           `json:"in_trash"`
	Created    time.Time      `json:"created"`
	Edited     time.Time      `json:"edited"`
	Seq        int64          `json:"seq"`
	Children   []string       `json:"children,omitempty"` // block ids, in order

	// text caches the plain text of title and rich-text values by
	// property id: text filters scan every row of a data source, and
	// joining rich text per row per query made lookups quadratic.
	text map[string]string
}

// addPage stores a page and indexes it; callers hold the write lock.
func (s *store) addPage(p *page) {
	s.pages[p.ID] = p
	m := s.byDS[p.DataSource]
	if m == nil {
		m = map[string]*page{}
		s.byDS[p.DataSource] = m
	}
	m[p.ID] = p
	s.indexTitle(p)
}

func (s *store) titleOf(p *page) (string, bool) {
	ds := s.sources[p.DataSource]
	if ds == nil {
		return "", false
	}
	tp := ds.titleProp()
	if tp == nil {
		return "", false
	}
	return p.text[tp.ID], true
}

func (s *store) indexTitle(p *page) {
	t, ok := s.titleOf(p)
	if !ok {
		return
	}
	byTitle := s.titles[p.DataSource]
	if byTitle == nil {
		byTitle = map[string]map[string]*page{}
		s.titles[p.DataSource] = byTitle
	}
	if byTitle[t] == nil {
		byTitle[t] = map[string]*page{}
	}
	byTitle[t][p.ID] = p
}

func (s *store) unindexTitle(p *page) {
	t, ok := s.titleOf(p)
	if !ok {
		return
	}
	if m := s.titles[p.DataSource][t]; m != nil {
		delete(m, p.ID)
		if len(m) == 0 {
			delete(s.titles[p.DataSource], t)
		}
	}
}

// reindex recomputes p.text; callers hold the write lock.
func (p *page) reindex() {
	p.text = make(map[string]string, 2)
	for pid, v := range p.Props {
		if l, ok := v.([]any); ok && len(l) > 0 && isRichText(l) {
			p.text[pid] = plainText(l)
		}
	}
}

func (ds *dataSource) prop(nameOrID string) *property {
	for _, p := range ds.Props {
		if p.Name == nameOrID {
			return p
		}
	}
	id := nameOrID
	if strings.Contains(id, "%") {
		// Property ids are URL-encoded in responses; accept both forms.
		if dec, err := urlUnescape(id); err == nil {
			id = dec
		}
	}
	for _, p := range ds.Props {
		if p.ID == id || p.ID == nameOrID {
			return p
		}
	}
	return nil
}

func (ds *dataSource) titleProp() *property {
	for _, p := range ds.Props {
		if p.Type == "title" {
			return p
		}
	}
	return nil
}

// store holds the workspace. One mutex guards everything: the emulator
// serves thousands of requests a second with it and stays simple.
type store struct {
	mu        sync.RWMutex
	users     []User
	wsPages   map[string]*workspacePage
	databases map[string]*database
	sources   map[string]*dataSource
	pages     map[string]*page
	blocks    map[string]*block
	seq       int64

	// byDS and titles index pages for queries: a lookup by title (how a
	// key is found without synq's index) costs no scan.
	byDS   map[string]map[string]*page
	titles map[string]map[string]map[string]*page // data source → title → page id → page

	logFile *os.File
	log     *bufio.Writer
	logErr  error

	// webBase is where the emulator's web view is reached (set on Start):
	// the url of databases, data sources and pages opens it there, so a
	// link an operator follows works without Notion.
	webBase atomic.Pointer[string]
}

type record struct {
	Kind string          `json:"k"`
	V    json.RawMessage `json:"v"`
}

const logName = "notion-emulator.jsonl"

func openStore(dir string, users []User) (*store, error) {
	s := &store{
		users:     users,
		wsPages:   map[string]*workspacePage{},
		databases: map[string]*database{},
		sources:   map[string]*dataSource{},
		pages:     map[string]*page{},
		blocks:    map[string]*block{},
		byDS:      map[string]map[string]*page{},
		titles:    map[string]map[string]map[string]*page{},
	}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, logName)
	if err := s.replay(path); err != nil {
		return nil, err
	}
	// Compact: write the current state to a new log and swap it in, so a
	// log never grows past one record per object plus what a run adds.
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s.logFile, s.log = f, bufio.NewWriterSize(f, 64<<10)
	for _, w := range s.wsPages {
		s.persist("ws", w)
	}
	for _, d := range s.databases {
		s.persist("db", d)
	}
	for _, d := range s.sources {
		s.persist("ds", d)
	}
	for _, p := range s.pages {
		s.persist("page", p)
	}
	for _, b := range s.blocks {
		s.persist("block", b)
	}
	if err := s.flush(); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return s, nil
}

func (s *store) replay(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			var rec record
			if jerr := json.Unmarshal(b, &rec); jerr != nil {
				return fmt.Errorf("data dir: %s line %d is not a record (%v): move the file away to start empty", path, line, jerr)
			}
			if aerr := s.apply(rec); aerr != nil {
				return fmt.Errorf("data dir: %s line %d: %w", path, line, aerr)
			}
		}
		// A last line without its newline was cut by a crash mid-write:
		// its request was never answered, so dropping it loses nothing
		// a client was told about.
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("data dir: read %s: %w", path, err)
		}
	}
}

func (s *store) apply(rec record) error {
	switch rec.Kind {
	case "ws":
		var w workspacePage
		if err := json.Unmarshal(rec.V, &w); err != nil {
			return err
		}
		s.wsPages[w.ID] = &w
	case "db":
		var d database
		if err := json.Unmarshal(rec.V, &d); err != nil {
			return err
		}
		s.databases[d.ID] = &d
	case "ds":
		var d dataSource
		if err := json.Unmarshal(rec.V, &d); err != nil {
			return err
		}
		s.sources[d.ID] = &d
	case "page":
		var p page
		if err := json.Unmarshal(rec.V, &p); err != nil {
			return err
		}
		if p.Props == nil {
			p.Props = map[string]any{}
		}
		if old := s.pages[p.ID]; old != nil {
			s.unindexTitle(old)
		}
		p.reindex()
		s.addPage(&p)
		s.seq = max(s.seq, p.Seq)
	case "block":
		var b block
		if err := json.Unmarshal(rec.V, &b); err != nil {
			return err
		}
		s.blocks[b.ID] = &b
	default:
		return fmt.Errorf("unknown record kind %q", rec.Kind)
	}
	return nil
}

// persist appends the object's new state to the log; callers hold mu.
func (s *store) persist(kind string, v any) {
	if s.log == nil || s.logErr != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.logErr = err
		return
	}
	rec, _ := json.Marshal(record{Kind: kind, V: b})
	rec = append(rec, '\n')
	if _, err := s.log.Write(rec); err != nil {
		s.logErr = err
	}
}

// flush writes buffered records to the file (no fsync: a crash of the
// machine may lose the last writes, a crash of the process does not).
func (s *store) flush() error {
	if s.log == nil {
		return nil
	}
	if s.logErr == nil {
		s.logErr = s.log.Flush()
	}
	return s.logErr
}

func (s *store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logFile == nil {
		return nil
	}
	err := s.flush()
	if cerr := s.logFile.Close(); err == nil {
		err = cerr
	}
	s.logFile, s.log = nil, nil
	return err
}

// newID returns a random version 4 UUID in Notion's dashed form.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// normalizeID accepts a UUID with or without dashes, in any case, and
// returns it dashed and lower-case.
func normalizeID(id string) (string, bool) {
	h := strings.ToLower(strings.ReplaceAll(id, "-", ""))
	if len(h) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
}

// propertyID returns a short random property id like Notion's.
func propertyID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [4]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, 4)
	for i, x := range b {
		out[i] = alphabet[int(x)%len(alphabet)]
	}
	return string(out)
}

// notionTime formats like Notion: UTC with milliseconds.
func notionTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

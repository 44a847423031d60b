package pagecontent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/synqhq/synq/internal/notion"
)

// Ref is what the engine remembers of one top-level block of a body: its
// id and its hash. ID is "" for a block written with a page create, whose
// id Notion does not return; Apply looks such ids up the first time the
// body changes.
type Ref struct {
	ID   string
	Hash uint64
}

// The hash of a block packs, in 8 bytes, what the planner needs besides
// equality: the top byte is the block's type (7 bits) and whether it has
// children (1 bit); the other 56 bits are a SHA-256 of its content, its
// children and its type. 56 bits make a missed change (two different
// blocks of one type hashing equal) a one in 10^16 event per change.
const (
	hashBits = 56
	hashMask = 1<<hashBits - 1
)

var typeCodes = map[string]uint64{
	notion.BlockParagraph: 1, notion.BlockHeading1: 2, notion.BlockHeading2: 3, notion.BlockHeading3: 4,
	notion.BlockBulletedListItem: 5, notion.BlockNumberedListItem: 6, notion.BlockToDo: 7, notion.BlockQuote: 8,
	notion.BlockCode: 9, notion.BlockDivider: 10, notion.BlockImage: 11, notion.BlockTable: 12, notion.BlockTableRow: 13,
}

// otherType is the code of types without a typed payload (a toggle a
// person added): such blocks are never updated in place.
const otherType = 127

// Hash identifies a block with its children: equal content hashes equal
// whether it comes from Convert or was read back from Notion (ids, times,
// default annotations and how text is cut into items do not count).
func Hash(b notion.Block) uint64 {
	sum := sha256.Sum256(canonicalJSON(b))
	code, ok := typeCodes[b.Type]
	if !ok {
		code = otherType
	}
	kids := uint64(0)
	if len(b.Children) > 0 || b.HasChildren {
		kids = 1
	}
	return (code<<1|kids)<<hashBits | binary.BigEndian.Uint64(sum[:8])&hashMask
}

// HashType is the block type a hash was made of ("" for types without a
// typed payload).
func HashType(h uint64) string {
	code := h >> (hashBits + 1)
	for t, c := range typeCodes {
		if c == code {
			return t
		}
	}
	return ""
}

// hashHasChildren says whether the hashed block had children.
func hashHasChildren(h uint64) bool { return h>>hashBits&1 == 1 }

// updatable says whether a block hashed old can become the block hashed
// new with one update: same type, a type with a typed payload, and no
// children on either side (an update changes a block, not its children).
func updatable(old, new uint64) bool {
	code := old >> (hashBits + 1)
	return code == new>>(hashBits+1) && code != otherType && code != 0 && !hashHasChildren(old) && !hashHasChildren(new)
}

// Hashes returns the Hash of each block.
func Hashes(blocks []notion.Block) []uint64 {
	out := make([]uint64, len(blocks))
	for i, b := range blocks {
		out[i] = Hash(b)
	}
	return out
}

// BodyHash identifies a whole body (16 hex digits), for the row's content
// hash: an unchanged body hashes equal and costs no call.
func BodyHash(blocks []notion.Block) string {
	h := sha256.New()
	var b [8]byte
	for _, x := range Hashes(blocks) {
		binary.BigEndian.PutUint64(b[:], x)
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// RefsOf returns refs for blocks whose ids are not known (written with a
// page create).
func RefsOf(blocks []notion.Block) []Ref {
	out := make([]Ref, len(blocks))
	for i, b := range blocks {
		out[i] = Ref{Hash: Hash(b)}
	}
	return out
}

// canonicalJSON is the request form of b with what Notion adds or may
// change on its own normalised away.
func canonicalJSON(b notion.Block) []byte {
	out, err := json.Marshal(canonical(b))
	if err != nil {
		// A block read back always marshals; one that does not is
		// unknown content, and hashing its type alone only forces a write.
		return []byte(b.Type)
	}
	return out
}

func canonical(b notion.Block) notion.Block {
	c := notion.Block{Type: b.Type}
	switch {
	case b.Paragraph != nil:
		c.Paragraph = canonText(b.Paragraph)
	case b.BulletedListItem != nil:
		c.BulletedListItem = canonText(b.BulletedListItem)
	case b.NumberedListItem != nil:
		c.NumberedListItem = canonText(b.NumberedListItem)
	case b.Quote != nil:
		c.Quote = canonText(b.Quote)
	case b.Heading1 != nil:
		c.Heading1 = canonHeading(b.Heading1)
	case b.Heading2 != nil:
		c.Heading2 = canonHeading(b.Heading2)
	case b.Heading3 != nil:
		c.Heading3 = canonHeading(b.Heading3)
	case b.ToDo != nil:
		c.ToDo = &notion.ToDoBlock{RichText: canonRich(b.ToDo.RichText), Checked: b.ToDo.Checked, Color: canonColor(b.ToDo.Color)}
	case b.Code != nil:
		c.Code = &notion.CodeBlock{RichText: canonRich(b.Code.RichText), Caption: canonRich(b.Code.Caption), Language: b.Code.Language}
	case b.Divider != nil:
		c.Divider = &notion.DividerBlock{}
	case b.Image != nil:
		img := *b.Image
		img.Caption = canonRich(img.Caption)
		if img.File != nil {
			// Notion-hosted URLs are signed and expire: the file is the path.
			img.File = &notion.FileURL{URL: strings.SplitN(img.File.URL, "?", 2)[0]}
		}
		c.Image = &img
	case b.Table != nil:
		t := *b.Table
		c.Table = &t
	case b.TableRow != nil:
		cells := make([][]notion.RichText, len(b.TableRow.Cells))
		for i, cell := range b.TableRow.Cells {
			cells[i] = canonRich(cell)
		}
		c.TableRow = &notion.TableRowBlock{Cells: cells}
	default:
		// Kept as read: the request form carries only the type and the
		// payload, never ids or times.
		c = b
		c.Children = nil
	}
	if len(b.Children) > 0 {
		c.Children = make([]notion.Block, len(b.Children))
		for i, k := range b.Children {
			c.Children[i] = canonical(k)
		}
	}
	return c
}

func canonText(t *notion.TextBlock) *notion.TextBlock {
	return &notion.TextBlock{RichText: canonRich(t.RichText), Color: canonColor(t.Color)}
}

func canonHeading(h *notion.HeadingBlock) *notion.HeadingBlock {
	return &notion.HeadingBlock{RichText: canonRich(h.RichText), Color: canonColor(h.Color), IsToggleable: h.IsToggleable}
}

func canonColor(c string) string {
	if c == "default" {
		return ""
	}
	return c
}

// canonRich merges adjacent text items of one style (Notion may cut or
// join runs differently from how they were sent) and drops what Notion
// derives (plain_text, href, default annotations).
func canonRich(items []notion.RichText) []notion.RichText {
	out := []notion.RichText{}
	for _, it := range items {
		if it.Type != "text" || it.Text == nil {
			out = append(out, it)
			continue
		}
		link := ""
		if it.Text.Link != nil {
			link = it.Text.Link.URL
		}
		ann := canonAnnotations(it.Annotations)
		if it.Text.Content == "" {
			continue
		}
		if l := len(out); l > 0 && out[l-1].Type == "text" && out[l-1].Text != nil && sameStyle(out[l-1], ann, link) {
			out[l-1].Text.Content += it.Text.Content
			continue
		}
		rt := notion.LinkText(it.Text.Content, link)
		rt.Annotations = ann
		out = append(out, rt)
	}
	return out
}

func canonAnnotations(a *notion.Annotations) *notion.Annotations {
	if a == nil {
		return nil
	}
	c := *a
	if c.Color == "default" {
		c.Color = ""
	}
	if c == (notion.Annotations{}) {
		return nil
	}
	return &c
}

func sameStyle(rt notion.RichText, ann *notion.Annotations, link string) bool {
	l := ""
	if rt.Text.Link != nil {
		l = rt.Text.Link.URL
	}
	if l != link || (rt.Annotations == nil) != (ann == nil) {
		return false
	}
	return ann == nil || *rt.Annotations == *ann
}

// EncodeRefs packs refs for the engine to store per row: the count (a
// uvarint), a bitmap of the refs whose id is known, the 8-byte hashes,
// then the 16 bytes of each known id. A body written with its page create
// (ids not known yet) costs 8 bytes a block; once its ids are known, 24.
func EncodeRefs(refs []Ref) ([]byte, error) {
	bitmap := make([]byte, (len(refs)+7)/8)
	ids := make([]byte, 0, 16*len(refs))
	hashes := make([]byte, 0, 8*len(refs))
	for i, r := range refs {
		hashes = binary.BigEndian.AppendUint64(hashes, r.Hash)
		if r.ID == "" {
			continue
		}
		h := strings.ReplaceAll(r.ID, "-", "")
		var id [16]byte
		if len(h) != 32 {
			return nil, fmt.Errorf("pagecontent: block %d: id %q is not a UUID", i, r.ID)
		}
		if _, err := hex.Decode(id[:], []byte(h)); err != nil {
			return nil, fmt.Errorf("pagecontent: block %d: id %q is not a UUID", i, r.ID)
		}
		bitmap[i/8] |= 1 << (i % 8)
		ids = append(ids, id[:]...)
	}
	out := binary.AppendUvarint(make([]byte, 0, 10+len(bitmap)+len(hashes)+len(ids)), uint64(len(refs)))
	out = append(append(append(out, bitmap...), hashes...), ids...)
	return out, nil
}

// DecodeRefs reads what EncodeRefs wrote; ids come back dashed and
// lower-case.
func DecodeRefs(b []byte) ([]Ref, error) {
	short := errors.New("pagecontent: stored block refs are cut short")
	n, k := binary.Uvarint(b)
	if k <= 0 || n > MaxBlocks {
		return nil, short
	}
	if k != len(binary.AppendUvarint(nil, n)) {
		return nil, errors.New("pagecontent: stored block refs are corrupt")
	}
	b = b[k:]
	nb := (int(n) + 7) / 8
	if len(b) < nb+8*int(n) {
		return nil, short
	}
	bitmap, hashes, ids := b[:nb], b[nb:nb+8*int(n)], b[nb+8*int(n):]
	if n%8 != 0 && bitmap[nb-1]>>(n%8) != 0 {
		return nil, errors.New("pagecontent: stored block refs are corrupt")
	}
	out := make([]Ref, n)
	for i := range out {
		out[i].Hash = binary.BigEndian.Uint64(hashes[8*i:])
		if bitmap[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		if len(ids) < 16 {
			return nil, short
		}
		h := hex.EncodeToString(ids[:16])
		out[i].ID = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		ids = ids[16:]
	}
	if len(ids) != 0 {
		return nil, errors.New("pagecontent: stored block refs have trailing bytes")
	}
	return out, nil
}

// ForgetIDs returns stored refs (EncodeRefs) without their block ids,
// hashes kept: the form a page create leaves. The next write of the body
// then reads the page's blocks and uses the ids only if the page still
// holds those blocks (resolveIDs), else plans from what is there. It is
// how refs that may be older than the page (Redis lost its last writes)
// stop being trusted, at no cost to unchanged rows.
func ForgetIDs(enc []byte) ([]byte, bool, error) {
	refs, err := DecodeRefs(enc)
	if err != nil {
		return nil, false, err
	}
	had := false
	for i := range refs {
		had = had || refs[i].ID != ""
		refs[i].ID = ""
	}
	if !had {
		return enc, false, nil
	}
	out, err := EncodeRefs(refs)
	return out, err == nil, err
}

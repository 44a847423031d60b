package ops

import (
	"context"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/synqhq/synq/internal/rdb"
)

// Filter narrows a list of syncs; its zero value keeps every sync.
type Filter struct {
	// Health keeps the syncs with one of these healths; Undeclared (with
	// or without Health) keeps the syncs no live executor declares.
	Health     []Health
	Undeclared bool
	// Worker keeps one worker's syncs.
	Worker string
	// Key keeps the keys with this prefix, or that match it as a glob
	// (path.Match: *, ?, [...]) when it has one of those.
	Key string
	// Words keeps the syncs whose key, worker, database, mode, schedule
	// and health contain every word (the console's search).
	Words string
}

// KeyMatches reports whether key passes the filter's Key.
func (f Filter) KeyMatches(key string) bool {
	if f.Key == "" {
		return true
	}
	if strings.ContainsAny(f.Key, "*?[") {
		ok, err := path.Match(f.Key, key)
		return ok && err == nil
	}
	return strings.HasPrefix(key, f.Key)
}

// Listed is one sync a filter kept, before its view is read: its catalog
// entry, status and health.
type Listed struct {
	SyncInfo
	Status rdb.SyncStatus
	Health Health
}

// Summary counts the syncs that pass a filter's worker, key and words
// (not its health: the summary says how the rest splits).
type Summary struct {
	// All counts every sync, filtered or not.
	All        int
	Total      int
	Counts     map[Health]int
	Undeclared int
}

// Match returns the syncs that pass f, sorted by key, and the summary. It
// costs one status read per thousand syncs (pipelined) and a catalog read
// only when the catalog changed.
func (o *Ops) Match(ctx context.Context, f Filter) ([]Listed, Summary, error) {
	cat, err := o.CachedCatalog(ctx)
	if err != nil {
		return nil, Summary{}, err
	}
	keys := make([]string, 0, len(cat))
	for k, s := range cat {
		if (f.Worker == "" || s.Worker == f.Worker) && f.KeyMatches(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	sts, err := o.rdb.SyncStatuses(ctx, keys)
	if err != nil {
		return nil, Summary{}, err
	}
	sum := Summary{All: len(cat), Counts: map[Health]int{}}
	words := strings.Fields(strings.ToLower(f.Words))
	out := make([]Listed, 0, len(keys))
	for i, k := range keys {
		l := Listed{SyncInfo: cat[k], Status: sts[i], Health: HealthOf(sts[i])}
		if len(words) > 0 && !hasWords(l, words) {
			continue
		}
		sum.Total++
		sum.Counts[l.Health]++
		if !l.Declared {
			sum.Undeclared++
		}
		healthOK := len(f.Health) == 0 && !f.Undeclared || slices.Contains(f.Health, l.Health) || f.Undeclared && !l.Declared
		if healthOK {
			out = append(out, l)
		}
	}
	return out, sum, nil
}

func hasWords(l Listed, words []string) bool {
	hay := strings.ToLower(strings.Join([]string{l.Key, l.Worker, l.Database, string(l.Mode), l.Schedule.Text, string(l.Health)}, " "))
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// ListPage is one page of a filtered list of syncs.
type ListPage struct {
	Views []View
	// Matched is how many syncs pass the filter; Summary how those that
	// pass its worker, key and words split by health.
	Matched int
	Summary Summary
	// Next is the key to list after for the next page ("" at the end).
	Next string
}

// List returns the syncs that pass f with keys after after, at most limit
// (0: all), with their views: only the page's syncs cost a view's reads.
func (o *Ops) List(ctx context.Context, f Filter, after string, limit int) (ListPage, error) {
	ls, sum, err := o.Match(ctx, f)
	if err != nil {
		return ListPage{}, err
	}
	p := ListPage{Matched: len(ls), Summary: sum}
	i, _ := slices.BinarySearchFunc(ls, after, func(l Listed, k string) int { return strings.Compare(l.Key, k) })
	if after != "" && i < len(ls) && ls[i].Key == after {
		i++
	}
	ls = ls[i:]
	if limit > 0 && len(ls) > limit {
		ls = ls[:limit]
		p.Next = ls[limit-1].Key
	}
	p.Views, err = o.ViewsOf(ctx, ls)
	return p, err
}

// ViewsOf reads the views of listed syncs (their runs, and what is known
// of an existing database).
func (o *Ops) ViewsOf(ctx context.Context, ls []Listed) ([]View, error) {
	out := make([]View, 0, len(ls))
	for _, l := range ls {
		v, err := o.viewWith(ctx, l.SyncInfo, l.Status)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// catalogMaxAge bounds how long List trusts a catalog whose stamp held.
const catalogMaxAge = 30 * time.Second

// CachedCatalog is the catalog, read again only when its stamp moved
// (rdb.CatalogStamp) or it is older than 30 s: what periodic readers
// (lists, the alert detector) use, so that thousands of syncs are not
// decoded on every look. The map is shared: callers must not change it.
func (o *Ops) CachedCatalog(ctx context.Context) (map[string]SyncInfo, error) {
	o.catMu.Lock()
	defer o.catMu.Unlock()
	stamp, err := o.rdb.CatalogStamp(ctx, o.catFrom)
	if err != nil {
		return nil, err
	}
	if o.cat != nil && stamp == o.catStamp && time.Since(o.catRead) < catalogMaxAge {
		return o.cat, nil
	}
	cat, from, err := o.CatalogFrom(ctx)
	if err != nil {
		return nil, err
	}
	o.cat, o.catFrom, o.catRead = cat, from, time.Now()
	o.catStamp = rdb.CatalogStamp{Version: stamp.Version, Live: int64(len(from))}
	return cat, nil
}

// Workers lists the workers of the known syncs, sorted.
func (o *Ops) Workers(ctx context.Context) ([]string, error) {
	cat, err := o.CachedCatalog(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range cat {
		seen[s.Worker] = true
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Manifest is the serializable picture of a worker's declarations that
// executors publish to Redis. The scheduler and the control API learn the
// syncs from it; they never import user code.
type Manifest struct {
	Worker string `json:"worker"`
	// Build identifies the declarations (BuildID): executors with the
	// same declarations are one build, whatever their binary.
	Build string `json:"build,omitempty"`
	// Version is the binary's version control revision, for operators.
	Version   string            `json:"version,omitempty"`
	Published time.Time         `json:"published"`
	Databases []Database        `json:"databases"`
	Syncs     []ManifestSync    `json:"syncs"`
	Pacers    []Pacer           `json:"pacers"`
	Webhooks  []ManifestWebhook `json:"webhooks,omitempty"`
	Extra     map[string]string `json:"extra,omitempty"`
}

// ManifestSync is a sync as the scheduler sees it.
type ManifestSync struct {
	Key         string        `json:"key"`
	Database    string        `json:"database"`
	Mode        Mode          `json:"mode"`
	Schedule    Schedule      `json:"schedule"`
	Timeout     time.Duration `json:"timeout"`
	MaxAttempts int           `json:"max_attempts"`
	Pacers      []string      `json:"pacers,omitempty"`
	// MaxTrashFraction is the deletion guard's effective threshold, for a
	// replace sync (0: an incremental sync, which has no guard).
	MaxTrashFraction float64 `json:"max_trash_fraction,omitempty"`
	// Existing is the Notion id of the database when it is one people
	// already have (DatabaseConfig.Existing), for status.
	Existing string `json:"existing,omitempty"`
}

// Manifest returns the manifest of s.
func (s *Set) Manifest() Manifest {
	m := Manifest{Worker: s.Worker}
	for _, k := range s.DatabaseOrder {
		m.Databases = append(m.Databases, *s.Databases[k])
	}
	for _, k := range s.SyncOrder {
		y := s.Syncs[k]
		ms := ManifestSync{Key: y.Key, Database: y.Database, Mode: y.Mode, Schedule: y.Schedule,
			Timeout: y.Timeout, MaxAttempts: y.MaxAttempts, Pacers: y.Pacers}
		if d := s.Databases[y.Database]; d != nil {
			ms.Existing = d.Existing
		}
		if y.Mode == Replace {
			// Operators read the threshold that applies, not "0".
			ms.MaxTrashFraction = y.TrashFraction()
		}
		m.Syncs = append(m.Syncs, ms)
	}
	for _, k := range s.PacerOrder {
		m.Pacers = append(m.Pacers, *s.Pacers[k])
	}
	for _, k := range s.WebhookOrder {
		h := s.Webhooks[k]
		m.Webhooks = append(m.Webhooks, ManifestWebhook{Key: h.Key, Database: h.Database})
	}
	m.Build = m.BuildID()
	return m
}

// BuildID is a short hash of the declarations: two executors with equal
// declarations are the same build, so a deploy that changes only code
// never looks like two competing builds.
func (m Manifest) BuildID() string {
	d := struct {
		Worker    string
		Databases []Database
		Syncs     []ManifestSync
		Pacers    []Pacer
		// Omitted when empty, so a worker without webhooks keeps the
		// build id it had before webhooks existed.
		Webhooks []ManifestWebhook `json:",omitempty"`
	}{m.Worker, m.Databases, m.Syncs, m.Pacers, m.Webhooks}
	b, _ := json.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// Registered is a sync as the registry keeps it: its declaration and the
// worker (and build) that declared it last.
type Registered struct {
	Worker string       `json:"worker"`
	Build  string       `json:"build"`
	Sync   ManifestSync `json:"sync"`
}

// Sync returns the manifest's sync with key, or nil.
func (m *Manifest) Sync(key string) *ManifestSync {
	for i := range m.Syncs {
		if m.Syncs[i].Key == key {
			return &m.Syncs[i]
		}
	}
	return nil
}

// ParseManifest decodes a published manifest.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("decode manifest: %w", err)
	}
	return m, nil
}

package library

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/core/validate"
	"resyn/storage"
)

// Entry is one environment as the library shows it: the stored record when
// there is one, else the built-in.
type Entry struct {
	Name          string         `json:"name"`
	Description   string         `json:"description"`
	Category      string         `json:"category"` // the first tag
	Tags          []string       `json:"tags"`
	Builtin       bool           `json:"builtin"` // ships with resyn (a stored record may override it)
	Stored        bool           `json:"stored"`  // has a record in the store
	Origin        storage.Origin `json:"origin"`
	Status        storage.Status `json:"status"`
	Revision      uint64         `json:"revision,omitempty"`
	MinDifficulty int            `json:"min_difficulty"`
	MaxDifficulty int            `json:"max_difficulty"`
	Hash          string         `json:"env_hash"`
	Validation    string         `json:"validation"` // "pass", "fail" or "" (never validated)
	Notes         []storage.Note `json:"notes,omitempty"`
	Updated       time.Time      `json:"updated,omitzero"`

	Source      string          `json:"-"`
	File        string          `json:"-"`
	Report      json.RawMessage `json:"-"`
	Calibration json.RawMessage `json:"-"`
}

// Library merges the built-ins with a store. A nil store gives the
// built-ins alone; curation actions then fail with ErrNoStore.
type Library struct {
	db *storage.DB
}

// New returns the library over db (which may be nil).
func New(db *storage.DB) *Library { return &Library{db: db} }

// DB is the store the library writes to, or nil.
func (l *Library) DB() *storage.DB { return l.db }

func builtinEntry(m *env.Module) Entry {
	e := Entry{
		Name: m.Name, Description: m.Description, Tags: slices.Clone(m.Tags), Builtin: true,
		Origin: storage.Origin{Kind: storage.OriginBuiltin}, Status: storage.StatusAccepted,
		MinDifficulty: m.MinDifficulty, MaxDifficulty: m.MaxDifficulty, Hash: m.Hash,
		Validation: "pass", // every built-in passes validation in core/envlib's tests
		Source:     string(m.Source), File: m.File,
	}
	if len(e.Tags) > 0 {
		e.Category = e.Tags[0]
	}
	return e
}

func storedEntry(r storage.Env) Entry {
	bi, builtin := envlib.Get(r.Name)
	info, _ := StaticInfo(r.Name+".star", []byte(r.Source))
	e := Entry{
		Name: r.Name, Description: info.Description, Tags: slices.Clone(r.Tags), Builtin: builtin, Stored: true,
		Origin: r.Origin, Status: r.Status, Revision: r.Revision,
		MinDifficulty: info.MinDifficulty, MaxDifficulty: info.MaxDifficulty,
		Hash: env.SourceHash([]byte(r.Source)), Notes: r.Notes, Updated: r.Time,
		Source: r.Source, File: r.Name + ".star", Report: r.Report, Calibration: r.Calibration,
	}
	if r.Origin.File != "" {
		e.File = r.Origin.File
	}
	if len(e.Tags) == 0 {
		e.Tags = info.Tags
	}
	if len(e.Tags) > 0 {
		e.Category = e.Tags[0]
	}
	if len(r.Report) == 0 && builtin && string(bi.Code) == r.Source {
		e.Validation = "pass" // a curated copy of a built-in, unchanged
	}
	if len(r.Report) > 0 {
		var rep struct {
			OK bool `json:"ok"`
		}
		if json.Unmarshal(r.Report, &rep) == nil {
			e.Validation = "fail"
			if rep.OK {
				e.Validation = "pass"
			}
		}
	}
	return e
}

// List returns every environment, built-in and stored, sorted by name.
func (l *Library) List() ([]Entry, error) {
	byName, err := builtinEntries()
	if err != nil {
		return nil, err
	}
	if l.db != nil {
		var recs []storage.Env
		if err := l.db.View(func(tx *storage.Tx) error {
			var err error
			recs, err = storage.ListEnvs(tx)
			return err
		}); err != nil {
			return nil, err
		}
		for _, r := range recs {
			byName[r.Name] = storedEntry(r)
		}
	}
	out := make([]Entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get returns one environment, or an error wrapping ErrUnknown.
func (l *Library) Get(name string) (Entry, error) {
	if l.db != nil {
		var r storage.Env
		err := l.db.View(func(tx *storage.Tx) error {
			var err error
			r, err = storage.GetEnv(tx, name)
			return err
		})
		if err == nil {
			return storedEntry(r), nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return Entry{}, err
		}
	}
	mods, err := envlib.Modules()
	if err != nil {
		return Entry{}, err
	}
	for _, m := range mods {
		if m.Name == name {
			return builtinEntry(m), nil
		}
	}
	return Entry{}, fmt.Errorf("%q: %w (see `resyn envs list`)", name, ErrUnknown)
}

// Usable reports whether an entry goes into datasets, training and export
// by default: accepted ones (built-ins count as accepted) that passed
// validation or were never validated because they are built-in.
func (e Entry) Usable() bool {
	return e.Status == storage.StatusAccepted && e.Validation != "fail"
}

// AddOptions tune Add and Edit.
type AddOptions struct {
	Validate    validate.Options // the checks' sample sizes
	KeepInvalid bool             // store an environment that fails validation (as a candidate)
	Origin      storage.Origin   // where it came from; Kind "file" by default
	// Replace lets Add take a NAME that a built-in or a stored environment
	// already has: the file becomes that environment's next revision.
	Replace bool
}

// owner says who has the name: a built-in, a stored environment, or no one
// ("").
func (l *Library) owner(name string) (string, error) {
	var who string
	if l.db != nil {
		err := l.db.View(func(tx *storage.Tx) error {
			r, err := storage.GetEnv(tx, name)
			if err == nil {
				who = fmt.Sprintf("a stored environment (%s, %s, revision %d)", originText(r.Origin), r.Status, r.Revision)
				return nil
			}
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			return err
		})
		if err != nil || who != "" {
			return who, err
		}
	}
	if _, ok := envlib.Get(name); ok {
		return "a built-in", nil
	}
	return "", nil
}

func originText(o storage.Origin) string {
	switch {
	case o.File != "":
		return "added from " + o.File
	case o.SynthRun != 0:
		return fmt.Sprintf("synthesized by run %d", o.SynthRun)
	}
	return o.Kind
}

// Add validates src in the pool and stores it as a candidate with its
// report. A NAME that a built-in or a stored environment already has is
// refused (ErrNameTaken) unless opts.Replace: then the file becomes that
// environment's next revision (its tags and notes are kept). A module that
// fails validation is not stored unless opts.KeepInvalid; the report is
// returned either way, and the error then wraps ErrInvalidEnv.
func (l *Library) Add(ctx context.Context, pool *env.Pool, file string, src []byte, opts AddOptions) (Entry, *validate.Report, error) {
	if l.db == nil {
		return Entry{}, nil, ErrNoStore
	}
	// The name first: refusing it costs nothing, validating costs seconds.
	if info, err := StaticInfo(file, src); err == nil && !opts.Replace {
		who, err := l.owner(info.Name)
		if err != nil {
			return Entry{}, nil, err
		}
		if who != "" {
			return Entry{}, nil, fmt.Errorf("%s: %w: NAME %q belongs to %s; give the module another NAME, or say that it replaces that one (--replace)", file, ErrNameTaken, info.Name, who)
		}
	}
	// Validation runs before any transaction: writers never hold one across
	// slow work.
	rep := validate.File(ctx, pool, file, src, opts.Validate)
	if !rep.OK && !opts.KeepInvalid {
		return Entry{}, rep, fmt.Errorf("%s: %w; not stored", file, ErrInvalidEnv)
	}
	name := rep.Env
	if name == "" {
		info, err := StaticInfo(file, src)
		if err != nil {
			return Entry{}, rep, fmt.Errorf("%s: %w: %v", file, ErrInvalidEnv, err)
		}
		name = info.Name
	}
	repJSON, err := json.Marshal(rep)
	if err != nil {
		return Entry{}, rep, err
	}
	origin := opts.Origin
	if origin.Kind == "" {
		origin = storage.Origin{Kind: storage.OriginFile, File: file}
	}
	var rec storage.Env
	err = l.db.Update(func(tx *storage.Tx) error {
		prev, err := storage.GetEnv(tx, name)
		change := "added from " + file
		if err == nil {
			if !opts.Replace {
				// Stored by someone else since the check above.
				return fmt.Errorf("%s: %w: NAME %q belongs to a stored environment; say that it replaces that one (--replace)", file, ErrNameTaken, name)
			}
			rec = prev
			change = "source replaced from " + file
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		} else {
			rec = storage.Env{Name: name}
		}
		rec.Source, rec.Origin, rec.Status, rec.Report, rec.Change = string(src), origin, storage.StatusCandidate, repJSON, change
		if rec.Tags == nil && rep.OK {
			info, _ := StaticInfo(file, src)
			rec.Tags = info.Tags
		}
		return storage.PutEnv(tx, &rec)
	})
	if err != nil {
		return Entry{}, rep, err
	}
	e := storedEntry(rec)
	if !rep.OK {
		return e, rep, fmt.Errorf("%s: %w; stored as a candidate anyway", file, ErrInvalidEnv)
	}
	return e, rep, nil
}

// Edit validates a new source for an existing environment and stores it as
// the next revision, keeping status, tags and notes (a built-in gets its
// first stored revision). The module must keep its NAME. Like Add, an edit
// that fails validation is not stored unless opts.KeepInvalid.
func (l *Library) Edit(ctx context.Context, pool *env.Pool, name string, src []byte, opts AddOptions) (Entry, *validate.Report, error) {
	cur, err := l.Get(name)
	if err != nil {
		return Entry{}, nil, err
	}
	if l.db == nil {
		return Entry{}, nil, ErrNoStore
	}
	info, err := StaticInfo(name+".star", src)
	if err == nil && info.Name != name {
		return Entry{}, nil, fmt.Errorf("the edited module is named %q, not %q: rename by adding it as a new environment", info.Name, name)
	}
	rep := validate.File(ctx, pool, cur.File, src, opts.Validate)
	if !rep.OK && !opts.KeepInvalid {
		return Entry{}, rep, fmt.Errorf("edit of %s: %w; not stored", name, ErrInvalidEnv)
	}
	repJSON, err := json.Marshal(rep)
	if err != nil {
		return Entry{}, rep, err
	}
	e, err := l.update(name, "source edited", func(r *storage.Env) error {
		if r.Source == string(src) {
			return errUnchanged
		}
		r.Source, r.Report = string(src), repJSON
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return cur, rep, nil
	}
	if err == nil && !rep.OK {
		err = fmt.Errorf("edit of %s: %w; stored anyway", name, ErrInvalidEnv)
	}
	return e, rep, err
}

var errUnchanged = errors.New("unchanged")

// update applies fn to the current record of name (a built-in without one
// starts from its embedded source) and stores the result as a new revision
// described by change. fn returning errUnchanged stores nothing.
func (l *Library) update(name, change string, fn func(*storage.Env) error) (Entry, error) {
	if l.db == nil {
		return Entry{}, ErrNoStore
	}
	var rec storage.Env
	err := l.db.Update(func(tx *storage.Tx) error {
		var err error
		if rec, err = current(tx, name); err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		rec.Change = change
		return storage.PutEnv(tx, &rec)
	})
	if err != nil {
		return Entry{}, err
	}
	return storedEntry(rec), nil
}

// current is the current record of name; a built-in that has none starts
// from its embedded source (revision 0).
func current(tx *storage.Tx, name string) (storage.Env, error) {
	rec, err := storage.GetEnv(tx, name)
	if !errors.Is(err, storage.ErrNotFound) {
		return rec, err
	}
	bi, builtin := envlib.Get(name)
	if !builtin {
		return rec, fmt.Errorf("%q: %w (see `resyn envs list`)", name, ErrUnknown)
	}
	info, _ := StaticInfo(bi.File, bi.Code)
	return storage.Env{Name: name, Source: string(bi.Code), Origin: storage.Origin{Kind: storage.OriginBuiltin},
		Status: storage.StatusAccepted, Tags: info.Tags}, nil
}

// SetStatus accepts or rejects an environment; why, when not empty, is
// kept as a note. Setting the status it already has stores nothing.
func (l *Library) SetStatus(name string, s storage.Status, why string) (Entry, error) {
	if err := checkStatus(s); err != nil {
		return Entry{}, err
	}
	e, err := l.update(name, string(s), setStatus(s, why))
	if errors.Is(err, errUnchanged) {
		return l.Get(name)
	}
	return e, err
}

// CheckTag says why a tag is not allowed, or returns nil.
func CheckTag(t string) error {
	if !env.TagRe.MatchString(t) {
		return fmt.Errorf("%q: %w: use 1–64 of a-z 0-9 - _ . : / starting with a letter or digit", t, ErrBadTag)
	}
	return nil
}

// Tag adds and removes tags. The first tag is the category; added tags go
// after the existing ones.
func (l *Library) Tag(name string, add, remove []string) (Entry, error) {
	for _, t := range add {
		if err := CheckTag(t); err != nil {
			return Entry{}, err
		}
	}
	e, err := l.update(name, tagChange(add, remove), retag(add, remove))
	if errors.Is(err, errUnchanged) {
		return l.Get(name)
	}
	return e, err
}

func checkStatus(s storage.Status) error {
	switch s {
	case storage.StatusAccepted, storage.StatusRejected, storage.StatusCandidate:
		return nil
	}
	return fmt.Errorf("status %q: want accepted, rejected or candidate", s)
}

// setStatus is the change SetStatus makes to a record.
func setStatus(s storage.Status, why string) func(*storage.Env) error {
	return func(r *storage.Env) error {
		if r.Status == s && why == "" {
			return errUnchanged
		}
		r.Status = s
		if why != "" {
			r.Notes = append(r.Notes, storage.Note{Time: time.Now().UTC(), Text: string(s) + ": " + why})
		}
		return nil
	}
}

// tagChange describes a Tag for the history.
func tagChange(add, remove []string) string {
	var parts []string
	if len(add) > 0 {
		parts = append(parts, "tagged "+strings.Join(add, ","))
	}
	if len(remove) > 0 {
		parts = append(parts, "untagged "+strings.Join(remove, ","))
	}
	return strings.Join(parts, "; ")
}

// retag is the change Tag makes to a record.
func retag(add, remove []string) func(*storage.Env) error {
	return func(r *storage.Env) error {
		tags := slices.DeleteFunc(slices.Clone(r.Tags), func(t string) bool { return slices.Contains(remove, t) })
		for _, t := range add {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		if slices.Equal(tags, r.Tags) {
			return errUnchanged
		}
		if len(tags) > env.MaxTags {
			return fmt.Errorf("%w: %s would have %d tags, more than the %d allowed", ErrBadTag, r.Name, len(tags), env.MaxTags)
		}
		r.Tags = tags
		return nil
	}
}

// Note appends a dated note.
func (l *Library) Note(name, text string) (Entry, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return Entry{}, errors.New("empty note")
	}
	return l.update(name, "note", func(r *storage.Env) error {
		r.Notes = append(r.Notes, storage.Note{Time: time.Now().UTC(), Text: text})
		return nil
	})
}

// SetCalibration stores a difficulty calibration (as core/synth encodes it).
func (l *Library) SetCalibration(name string, calibration json.RawMessage) (Entry, error) {
	return l.update(name, "calibrated", func(r *storage.Env) error {
		r.Calibration = calibration
		return nil
	})
}

// History returns every stored revision, oldest first. A built-in that was
// never curated has one pseudo-revision (revision 0, its embedded source).
func (l *Library) History(name string) ([]storage.Env, error) {
	if l.db != nil {
		var h []storage.Env
		err := l.db.View(func(tx *storage.Tx) error {
			var err error
			h, err = storage.EnvHistory(tx, name)
			return err
		})
		if err == nil {
			return h, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	if src, ok := envlib.Get(name); ok {
		info, _ := StaticInfo(src.File, src.Code)
		return []storage.Env{{Name: name, Change: "built-in", Source: string(src.Code), Status: storage.StatusAccepted,
			Origin: storage.Origin{Kind: storage.OriginBuiltin}, Tags: info.Tags}}, nil
	}
	return nil, fmt.Errorf("%q: %w (see `resyn envs list`)", name, ErrUnknown)
}

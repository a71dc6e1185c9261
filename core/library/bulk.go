package library

import (
	"errors"
	"fmt"

	"resyn/core/envlib"
	"resyn/storage"
)

// Change is what a bulk action or a revert did to one environment.
type Change struct {
	Entry Entry // the environment after the action
	// Before is the revision that was current before it (0: a built-in
	// that had no stored record).
	Before uint64
	// Changed reports that a new revision was stored; an action that
	// would change nothing (accepting an accepted environment) stores none.
	Changed bool
}

// SetStatusAll is SetStatus of every name, in one transaction: all of them
// or, on an error (an unknown name), none.
func (l *Library) SetStatusAll(names []string, s storage.Status) ([]Change, error) {
	if err := checkStatus(s); err != nil {
		return nil, err
	}
	return l.updateAll(names, func(string) string { return string(s) }, setStatus(s, ""))
}

// TagAll is Tag of every name, in one transaction: all of them or none.
func (l *Library) TagAll(names []string, add, remove []string) ([]Change, error) {
	for _, t := range add {
		if err := CheckTag(t); err != nil {
			return nil, err
		}
	}
	change := tagChange(add, remove)
	return l.updateAll(names, func(string) string { return change }, retag(add, remove))
}

// RevertItem asks for environment Name to be put back as it was at
// revision To (0: the built-in as it ships), provided its current revision
// is still Expect.
type RevertItem struct {
	Name   string
	To     uint64
	Expect uint64
}

// Revert undoes curation: each environment gets a new revision whose
// source, status, tags, notes, report and calibration are those of
// revision To — the history only grows. An environment whose current
// revision is no longer Expect (someone changed it since, in this process
// or another) is left alone and named in the error, which wraps
// ErrChanged; the others are reverted, in one transaction.
func (l *Library) Revert(items []RevertItem) ([]Change, error) {
	if l.db == nil {
		return nil, ErrNoStore
	}
	var changed []error
	var recs []storage.Env
	var befores []uint64
	err := l.db.Update(func(tx *storage.Tx) error {
		changed, recs, befores = nil, nil, nil
		for _, it := range items {
			rec, err := current(tx, it.Name)
			if err != nil {
				return err
			}
			if rec.Revision != it.Expect {
				changed = append(changed, fmt.Errorf("%s is at revision %d, not %d", it.Name, rec.Revision, it.Expect))
				continue
			}
			var old storage.Env
			if it.To == 0 {
				bi, ok := envlib.Get(it.Name)
				if !ok {
					return fmt.Errorf("%s has no revision 0: it is not a built-in", it.Name)
				}
				info, _ := StaticInfo(bi.File, bi.Code)
				old = storage.Env{Source: string(bi.Code), Status: storage.StatusAccepted, Tags: info.Tags}
			} else if old, err = storage.GetEnvRevision(tx, it.Name, it.To); err != nil {
				return err
			}
			before := rec.Revision
			rec.Source, rec.Status, rec.Tags, rec.Notes = old.Source, old.Status, old.Tags, old.Notes
			rec.Report, rec.Calibration = old.Report, old.Calibration
			rec.Change = fmt.Sprintf("undo: back to revision %d", it.To)
			if it.To == 0 {
				rec.Change = "undo: back to the built-in"
			}
			if err := storage.PutEnv(tx, &rec); err != nil {
				return err
			}
			recs, befores = append(recs, rec), append(befores, before)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Entries are built after the transaction, as in updateAll.
	out := make([]Change, len(recs))
	for i, rec := range recs {
		out[i] = Change{Entry: storedEntry(rec), Before: befores[i], Changed: true}
	}
	if len(changed) > 0 {
		return out, fmt.Errorf("%w since: %w", ErrChanged, errors.Join(changed...))
	}
	return out, nil
}

// updateAll applies fn to the current record of every name and stores each
// changed one as a new revision, all in one transaction.
func (l *Library) updateAll(names []string, change func(name string) string, fn func(*storage.Env) error) ([]Change, error) {
	if l.db == nil {
		return nil, ErrNoStore
	}
	recs := make([]storage.Env, len(names))
	out := make([]Change, len(names))
	err := l.db.Update(func(tx *storage.Tx) error {
		for i, name := range names {
			rec, err := current(tx, name)
			if err != nil {
				return err
			}
			out[i] = Change{Before: rec.Revision}
			switch err := fn(&rec); {
			case errors.Is(err, errUnchanged):
				recs[i] = rec
				continue
			case err != nil:
				return fmt.Errorf("%s: %w", name, err)
			}
			rec.Change = change(name)
			if err := storage.PutEnv(tx, &rec); err != nil {
				return err
			}
			recs[i], out[i].Changed = rec, true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Entries are built after the transaction: it holds the store's one
	// writer, and building an entry parses the module.
	var builtins map[string]Entry
	for i, rec := range recs {
		if rec.Revision > 0 {
			out[i].Entry = storedEntry(rec)
			continue
		}
		if builtins == nil {
			if builtins, err = builtinEntries(); err != nil {
				return nil, err
			}
		}
		out[i].Entry = builtins[rec.Name]
	}
	return out, nil
}

func builtinEntries() (map[string]Entry, error) {
	mods, err := envlib.Modules()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Entry, len(mods))
	for _, m := range mods {
		out[m.Name] = builtinEntry(m)
	}
	return out, nil
}

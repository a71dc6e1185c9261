package library

import (
	"cmp"
	"slices"
	"strings"

	"github.com/sahilm/fuzzy"

	corelib "resyn/core/library"
	"resyn/storage"
)

// column is a column of the list; every one can order it.
type column int

const (
	colName column = iota
	colStatus
	colCategory
	colValid
	colDifficulty
	colCal
	colTags
	colUpdated
	colDescription
	numColumns
)

// columnTitles are the headers, in display order.
var columnTitles = [numColumns]string{"NAME", "STATUS", "CATEGORY", "VAL", "DIFF", "CAL", "TAGS", "UPDATED", "DESCRIPTION"}

// sortNames are the columns as the filter line names the order.
var sortNames = [numColumns]string{"name", "status", "category", "validation", "difficulty", "calibration", "tags", "updated", "description"}

// compare orders two entries by a column (ties: by name).
func compare(c column, a, b corelib.Entry) int {
	var r int
	switch c {
	case colStatus:
		r = cmp.Compare(statusRank(a.Status), statusRank(b.Status))
	case colCategory:
		r = cmp.Compare(a.Category, b.Category)
	case colValid:
		r = cmp.Compare(validRank(a.Validation), validRank(b.Validation))
	case colDifficulty:
		r = cmp.Or(cmp.Compare(a.MinDifficulty, b.MinDifficulty), cmp.Compare(a.MaxDifficulty, b.MaxDifficulty))
	case colCal:
		ca, oka := calibration(a)
		cb, okb := calibration(b)
		switch {
		case oka && okb:
			r = cmp.Compare(ca.rate, cb.rate)
		case oka:
			r = 1 // the calibrated after the rest, ascending
		case okb:
			r = -1
		}
	case colTags:
		r = slices.Compare(tagsAfterCategory(a), tagsAfterCategory(b))
	case colUpdated:
		r = a.Updated.Compare(b.Updated)
	case colDescription:
		r = cmp.Compare(strings.ToLower(a.Description), strings.ToLower(b.Description))
	}
	return cmp.Or(r, cmp.Compare(a.Name, b.Name))
}

// statusRank orders statuses as a reviewer works through them.
func statusRank(s storage.Status) int {
	switch s {
	case storage.StatusCandidate:
		return 0
	case storage.StatusAccepted:
		return 1
	case storage.StatusRejected:
		return 2
	}
	return 3
}

func validRank(v string) int {
	switch v {
	case "fail":
		return 0
	case "":
		return 1
	}
	return 2
}

// query is a parsed search: free words, each of which must match the name
// (fuzzily, and well) or the category, a tag or the description (as a
// substring);
// and field terms (tag:x, cat:x, status:x, name:x, desc:x), each of which
// must hold.
type query struct {
	words  []string
	fields [][2]string // field, value
}

// queryFields are the field terms a query understands, with their aliases.
var queryFields = map[string]string{
	"tag": "tag", "tags": "tag", "cat": "category", "category": "category",
	"status": "status", "name": "name", "desc": "description", "description": "description",
}

func parseQuery(s string) query {
	var q query
	for _, w := range strings.Fields(strings.ToLower(s)) {
		if f, v, ok := strings.Cut(w, ":"); ok && queryFields[f] != "" {
			if v != "" {
				q.fields = append(q.fields, [2]string{queryFields[f], v})
			}
			continue
		}
		q.words = append(q.words, w)
	}
	return q
}

func (q query) empty() bool { return len(q.words) == 0 && len(q.fields) == 0 }

// hit is one entry that matches: its index, a score (higher first) and
// the characters of its name the words matched.
type hit struct {
	i       int
	score   int
	matched []int
}

// search returns the entries of idx that match q, best first.
func search(all []corelib.Entry, idx []int, q query) []hit {
	// One fuzzy pass per word over the names (sahilm/fuzzy scores runs of
	// matching characters and word starts higher).
	byWord := make([]map[int]fuzzy.Match, len(q.words))
	for w, word := range q.words {
		byWord[w] = map[int]fuzzy.Match{}
		for _, m := range fuzzy.FindFromNoSort(word, names{all, idx}) {
			byWord[w][m.Index] = m
		}
	}
	var out []hit
outer:
	for j, i := range idx {
		e := all[i]
		for _, f := range q.fields {
			if !fieldMatches(e, f[0], f[1]) {
				continue outer
			}
		}
		h := hit{i: i}
		var hay string
		for w, word := range q.words {
			// A match in the name counts when it is a good one (starts a
			// word, runs of letters): letters scattered over a long name
			// ("even" in base_conversion) are noise, not a hit.
			if m, ok := byWord[w][j]; ok && m.Score > 0 {
				h.score += m.Score
				h.matched = append(h.matched, m.MatchedIndexes...)
				continue
			}
			if hay == "" {
				hay = strings.ToLower(e.Category + " " + strings.Join(e.Tags, " ") + " " + e.Description)
			}
			switch {
			case atWordStart(hay, word):
				h.score -= 1000 // below every match in the name
			case strings.Contains(hay, word):
				h.score -= 1500 // inside a word ("graph" in cryptography): lower still
			default:
				continue outer
			}
		}
		slices.Sort(h.matched)
		h.matched = slices.Compact(h.matched)
		out = append(out, h)
	}
	slices.SortStableFunc(out, func(a, b hit) int { return cmp.Compare(b.score, a.score) })
	return out
}

// atWordStart reports whether word occurs in hay at the start of a word.
func atWordStart(hay, word string) bool {
	for i := 0; ; {
		j := strings.Index(hay[i:], word)
		if j < 0 {
			return false
		}
		if k := i + j; k == 0 || !isLetter(hay[k-1]) {
			return true
		}
		i += j + 1
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func fieldMatches(e corelib.Entry, field, v string) bool {
	switch field {
	case "tag":
		return hasTagPrefix(e.Tags, v)
	case "category":
		return strings.HasPrefix(strings.ToLower(e.Category), v)
	case "status":
		return strings.HasPrefix(string(e.Status), v)
	case "name":
		return strings.Contains(strings.ToLower(e.Name), v)
	case "description":
		return strings.Contains(strings.ToLower(e.Description), v)
	}
	return false
}

func hasTagPrefix(tags []string, p string) bool {
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(t), strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// names is the fuzzy search's view of the filtered entries.
type names struct {
	all []corelib.Entry
	idx []int
}

func (n names) String(i int) string { return strings.ToLower(n.all[n.idx[i]].Name) }
func (n names) Len() int            { return len(n.idx) }

package synthload

import (
	"bufio"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

// The corpus: environment modules a writer model plausibly answers with,
// as templates (corpus/<part>/<id>.star.tmpl). A template is one task; its
// knobs (numeric constants of the code, not of the instance) change what
// the verifier accepts, and its theme (who, what, where) changes the
// wording of the prompt, so two variants of one template are different
// environments unless they share the knobs (then they are behavioural
// clones, the kind of near-duplicate a writer model produces and
// deduplication must catch).
//
// A template opens with header lines:
//
//	#! describe: one sentence for the idea, with the theme's words
//	#! knob K1 LO HI        (inclusive; up to three knobs, K1 K2 K3)
//
// and uses {{.Name}}, {{.Who}}, {{.WhoCap}}, {{.Thing}}, {{.Things}},
// {{.Place}}, {{.Tag}} and its knobs.

//go:embed corpus
var corpusFS embed.FS

// Parts of the corpus.
const (
	PartTuning   = "tuning"   // what tests and tuning use
	PartHeldBack = "heldback" // kept for measurements: no test or tuning looks at it
)

// Knob is a numeric constant of a template.
type Knob struct {
	Name   string
	Lo, Hi int
}

// Template is one task of the corpus.
type Template struct {
	ID    string
	Part  string
	Knobs []Knob

	code, describe *template.Template
}

// Theme is the wording a variant is told in.
type Theme struct {
	Who, Thing, Things, Place, Tag string
}

// Themes are the wordings variants draw from.
var Themes = []Theme{
	{"a harbour master", "crate", "crates", "the docks", "logistics"},
	{"a librarian", "book", "books", "the archive", "libraries"},
	{"an astronomer", "star", "stars", "the observatory", "astronomy"},
	{"a baker", "tray", "trays", "the bakery", "cooking"},
	{"a beekeeper", "hive", "hives", "the meadow", "farming"},
	{"a train dispatcher", "wagon", "wagons", "the rail yard", "transport"},
	{"a museum curator", "exhibit", "exhibits", "the gallery", "museums"},
	{"a ship's navigator", "buoy", "buoys", "the strait", "navigation"},
	{"a gardener", "seedling", "seedlings", "the greenhouse", "gardening"},
	{"a postal clerk", "parcel", "parcels", "the sorting office", "post"},
	{"a chess coach", "pupil", "pupils", "the club", "games"},
	{"a glassblower", "vase", "vases", "the workshop", "crafts"},
	{"a lighthouse keeper", "lamp", "lamps", "the headland", "coast"},
	{"a mountain guide", "climber", "climbers", "the pass", "mountains"},
	{"a radio operator", "signal", "signals", "the station", "radio"},
	{"a warehouse robot", "pallet", "pallets", "the depot", "robots"},
	{"a cartographer", "landmark", "landmarks", "the valley", "maps"},
	{"a tea merchant", "chest", "chests", "the market", "trade"},
	{"a zookeeper", "enclosure", "enclosures", "the zoo", "animals"},
	{"an orchestra conductor", "musician", "musicians", "the concert hall", "music"},
	{"a miner", "cart", "carts", "the tunnel", "mining"},
	{"a weather forecaster", "sensor", "sensors", "the plateau", "weather"},
	{"a tailor", "bolt of cloth", "bolts of cloth", "the atelier", "textiles"},
	{"a courier", "envelope", "envelopes", "the city", "delivery"},
}

// Corpus is the templates of one or more parts.
type Corpus struct {
	Templates []*Template
}

// Load reads the named parts of the embedded corpus.
func Load(parts ...string) (*Corpus, error) {
	c := &Corpus{}
	for _, part := range parts {
		files, err := fs.Glob(corpusFS, path.Join("corpus", part, "*.star.tmpl"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("synthload: no corpus part %q (have %s, %s)", part, PartTuning, PartHeldBack)
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := corpusFS.ReadFile(f)
			if err != nil {
				return nil, err
			}
			t, err := parseTemplate(strings.TrimSuffix(path.Base(f), ".star.tmpl"), part, string(b))
			if err != nil {
				return nil, fmt.Errorf("synthload: %s: %w", f, err)
			}
			c.Templates = append(c.Templates, t)
		}
	}
	return c, nil
}

func parseTemplate(id, part, src string) (*Template, error) {
	t := &Template{ID: id, Part: part}
	var body strings.Builder
	sc := bufio.NewScanner(strings.NewReader(src))
	describe := ""
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#!") {
			body.WriteString(line + "\n")
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, "#!"))
		switch {
		case len(f) > 1 && f[0] == "describe:":
			describe = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, "#!")), "describe:"))
		case len(f) == 4 && f[0] == "knob":
			lo, err1 := strconv.Atoi(f[2])
			hi, err2 := strconv.Atoi(f[3])
			if err1 != nil || err2 != nil || lo > hi {
				return nil, fmt.Errorf("bad knob line %q", line)
			}
			t.Knobs = append(t.Knobs, Knob{f[1], lo, hi})
		default:
			return nil, fmt.Errorf("unknown header line %q", line)
		}
	}
	if describe == "" {
		return nil, fmt.Errorf("no #! describe: line")
	}
	var err error
	if t.code, err = template.New(id).Option("missingkey=error").Parse(body.String()); err != nil {
		return nil, err
	}
	if t.describe, err = template.New(id + "/describe").Option("missingkey=error").Parse(describe); err != nil {
		return nil, err
	}
	return t, nil
}

// Variant is one environment a template makes: a name, a theme and the
// knobs' values.
type Variant struct {
	T     *Template
	Name  string
	Theme Theme
	Knobs map[string]int
}

func (v Variant) data() map[string]any {
	d := map[string]any{"Name": v.Name, "Who": v.Theme.Who, "WhoCap": capitalise(v.Theme.Who), "Thing": v.Theme.Thing,
		"Things": v.Theme.Things, "Place": v.Theme.Place, "Tag": v.Theme.Tag}
	for k, x := range v.Knobs {
		d[k] = x
	}
	return d
}

// Code is the variant's module.
func (v Variant) Code() string {
	var b strings.Builder
	if err := v.T.code.Execute(&b, v.data()); err != nil {
		panic(fmt.Sprintf("synthload: template %s: %v", v.T.ID, err)) // corpus_test.go renders every template
	}
	return b.String()
}

// Description is the idea's description.
func (v Variant) Description() string {
	var b strings.Builder
	if err := v.T.describe.Execute(&b, v.data()); err != nil {
		panic(fmt.Sprintf("synthload: template %s: %v", v.T.ID, err))
	}
	return capitalise(b.String())
}

func capitalise(s string) string {
	for i, r := range s {
		return string(unicode.ToUpper(r)) + s[i+len(string(r)):]
	}
	return s
}

// ByID finds a template.
func (c *Corpus) ByID(id string) *Template {
	for _, t := range c.Templates {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// Tests of the documentation: the two READMEs, README.md and README.zh-CN.md,
// and the pages under docs/, each in English and in Chinese. Twins show the
// same commands, section for section, and every page links only to what
// every clone has.

package main

import (
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
)

const (
	readmeEnglish = "README.md"
	readmeChinese = "README.zh-CN.md"

	// maxReadmeLines keeps each README to what a reader finishes: the
	// tutorial's listings and their runs. Depth goes to docs/.
	maxReadmeLines = 450
)

// twin is a page in English and its translation into Chinese.
type twin struct{ english, chinese string }

// readmes is the two READMEs.
var readmes = twin{readmeEnglish, readmeChinese}

// docTwins returns the pages under docs/, each English page with its
// Chinese twin beside it (docs/X.md and docs/X.zh-CN.md). A page without
// its twin fails the test.
func docTwins(t *testing.T) []twin {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var twins []twin
	for _, page := range pages {
		page = filepath.ToSlash(page)
		if strings.HasSuffix(page, ".zh-CN.md") {
			if english := strings.TrimSuffix(page, ".zh-CN.md") + ".md"; !slices.Contains(pages, filepath.FromSlash(english)) {
				t.Errorf("%s has no English twin %s", page, english)
			}
			continue
		}
		chinese := strings.TrimSuffix(page, ".md") + ".zh-CN.md"
		if !slices.Contains(pages, filepath.FromSlash(chinese)) {
			t.Errorf("%s has no Chinese twin %s", page, chinese)
			continue
		}
		twins = append(twins, twin{page, chinese})
	}
	if len(twins) == 0 {
		t.Fatal("no pages under docs/")
	}
	return twins
}

// allTwins is the READMEs and the pages under docs/.
func allTwins(t *testing.T) []twin {
	t.Helper()
	return append([]twin{readmes}, docTwins(t)...)
}

// A reader who knows only Chinese must be able to run every command that the
// English page shows, and the other way round.
func TestReadmesShowTheSameCommands(t *testing.T) {
	t.Parallel()
	for _, pair := range allTwins(t) {
		english, chinese := readmeBlocks(t, pair.english), readmeBlocks(t, pair.chinese)
		if diff := cmp.Diff(english.goRunCommands(), chinese.goRunCommands()); diff != "" {
			t.Errorf("go run commands (-%s +%s):\n%s", pair.english, pair.chinese, diff)
		}
	}
	// Each README shows every subcommand, plainly.
	for _, name := range []string{readmeEnglish, readmeChinese} {
		readme := readmeBlocks(t, name)
		for _, c := range commands {
			if !slices.Contains(readme.goRunCommands(), "go run . "+c.name) {
				t.Errorf("%s does not show `go run . %s`", readme.name, c.name)
			}
		}
	}
}

// Each heading of an English page has its section in the Chinese twin, in
// the same order, marked <!-- en: HEADING --> so that each can be updated on
// its own.
func TestReadmesHaveTheSameSections(t *testing.T) {
	t.Parallel()
	for _, pair := range allTwins(t) {
		var headings []string
		for _, line := range readmeBlocks(t, pair.english).prose {
			if strings.HasPrefix(line, "#") {
				headings = append(headings, line)
			}
		}
		var marked []string
		for _, m := range regexp.MustCompile(`(?m)^<!-- en: (.+) -->$`).FindAllStringSubmatch(readmeBlocks(t, pair.chinese).text, -1) {
			marked = append(marked, m[1])
		}
		if pair == readmes && len(headings) < 10 {
			t.Errorf("%s has only %d headings: %q", pair.english, len(headings), headings)
		}
		if diff := cmp.Diff(headings, marked); diff != "" {
			t.Errorf("the headings of %s (-) and the sections marked in %s (+):\n%s", pair.english, pair.chinese, diff)
		}
	}
}

// Each README stays short enough to finish: the listings, their runs, and a
// list of where to read further.
func TestReadmeLength(t *testing.T) {
	t.Parallel()
	for _, name := range []string{readmeEnglish, readmeChinese} {
		if lines := strings.Count(readmeBlocks(t, name).text, "\n"); lines > maxReadmeLines {
			t.Errorf("%s has %d lines, more than %d: move depth to docs/", name, lines, maxReadmeLines)
		}
	}
}

// headingAnchors returns the anchors a code host gives the headings of a
// Markdown text: lower case, punctuation dropped, spaces made hyphens.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		heading, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if fenced || !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		var anchor strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
				anchor.WriteRune(r)
			case r == ' ':
				anchor.WriteRune('-')
			}
		}
		anchors[anchor.String()] = true
	}
	return anchors
}

// Links go to the web, to a file of the repository, or to a heading of a
// page: never to ../shared or anywhere else outside the repository, which no
// clone has. A link is read from the directory of its page, as a code host
// reads it. The READMEs link each other, the tutorial's two public sources,
// and every page under docs/ in their language; each page links its twin
// and its README.
func TestReadmeLinks(t *testing.T) {
	t.Parallel()
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	required := map[string][]string{
		readmeEnglish: {readmeChinese, "https://www.liaoxuefeng.com/wiki/1016959663602400", "https://github.com/jackfrued/Python-100-Days"},
		readmeChinese: {readmeEnglish, "https://www.liaoxuefeng.com/wiki/1016959663602400", "https://github.com/jackfrued/Python-100-Days"},
	}
	for _, pair := range docTwins(t) {
		required[readmeEnglish] = append(required[readmeEnglish], pair.english)
		required[readmeChinese] = append(required[readmeChinese], pair.chinese)
		required[pair.english] = []string{pair.chinese, readmeEnglish}
		required[pair.chinese] = []string{pair.english, readmeChinese}
	}
	for _, name := range slices.Sorted(maps.Keys(required)) {
		text := readmeBlocks(t, name).text
		if strings.Contains(text, "../shared") {
			t.Errorf("%s mentions ../shared, which no clone has", name)
		}
		dir := path.Dir(name)
		var targets []string // each link's file, from the repository's root
		outside := text
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.HasPrefix(target, "https://") {
				targets = append(targets, target)
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			resolved := name
			if file != "" {
				resolved = path.Join(dir, file)
				if strings.HasPrefix(file, "/") || resolved == ".." || strings.HasPrefix(resolved, "../") {
					t.Errorf("%s links to %q, outside the repository", name, target)
					continue
				}
				if _, err := os.Stat(filepath.FromSlash(resolved)); err != nil {
					t.Errorf("%s links to %q, which is neither a web page nor a file of the repository", name, target)
					continue
				}
				targets = append(targets, resolved)
				outside = strings.Replace(outside, "]("+target+")", "]()", 1)
			}
			if anchor != "" {
				if !strings.HasSuffix(resolved, ".md") {
					t.Errorf("%s links to %q, an anchor in a file that is not Markdown", name, target)
				} else if !headingAnchors(readmeBlocks(t, resolved).text)[anchor] {
					t.Errorf("%s links to %q, but %s has no heading with that anchor", name, target, resolved)
				}
			}
		}
		// A path that climbs out of the repository is wrong outside a link too.
		if strings.Contains(outside, "../") {
			t.Errorf("%s mentions a path outside the repository (../)", name)
		}
		for _, want := range required[name] {
			if !slices.Contains(targets, want) {
				t.Errorf("%s does not link to %s; its links: %q", name, want, targets)
			}
		}
	}
}

// markdown is a page split into the lines of its code blocks and the rest.
type markdown struct {
	name, text string
	code       []string // the lines inside ``` fences
	prose      []string // the other lines
}

func readmeBlocks(t *testing.T, name string) markdown {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		t.Fatal(err)
	}
	m := markdown{name: name, text: string(b)}
	fenced := false
	for _, line := range strings.Split(m.text, "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "```"):
			fenced = !fenced
		case fenced:
			m.code = append(m.code, line)
		default:
			m.prose = append(m.prose, line)
		}
	}
	return m
}

// goRunCommands returns the go run command lines the page shows, as a
// sorted set: from code blocks, the lines that are commands (not a program's
// output), each without its prompt and comment; and from inline code. Runs
// of spaces and line breaks count as one space.
func (m markdown) goRunCommands() []string {
	set := make(map[string]bool)
	for _, line := range m.code {
		command, _, _ := strings.Cut(line, "#")
		command = strings.TrimPrefix(strings.TrimSpace(command), "$ ")
		if strings.HasPrefix(command, "go run ") {
			set[strings.Join(strings.Fields(command), " ")] = true
		}
	}
	inline := regexp.MustCompile("`([^`]+)`")
	for _, match := range inline.FindAllStringSubmatch(strings.Join(m.prose, "\n"), -1) {
		if command := strings.Join(strings.Fields(match[1]), " "); strings.HasPrefix(command, "go run ") {
			set[command] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

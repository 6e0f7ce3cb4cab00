// Tests of the two READMEs, README.md and README.zh-CN.md: they show the same
// commands, section for section, and link only to what every clone has.

package main

import (
	"maps"
	"os"
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
)

// A reader who knows only Chinese must be able to run every command that the
// English README shows, and the other way round.
func TestReadmesShowTheSameCommands(t *testing.T) {
	t.Parallel()
	english, chinese := readmeBlocks(t, readmeEnglish), readmeBlocks(t, readmeChinese)
	if diff := cmp.Diff(english.goRunCommands(), chinese.goRunCommands()); diff != "" {
		t.Errorf("go run commands (-%s +%s):\n%s", readmeEnglish, readmeChinese, diff)
	}
	// Each README shows every subcommand, plainly.
	for _, readme := range []markdown{english, chinese} {
		for _, c := range commands {
			if !slices.Contains(readme.goRunCommands(), "go run . "+c.name) {
				t.Errorf("%s does not show `go run . %s`", readme.name, c.name)
			}
		}
	}
}

// Each heading of README.md has its section in README.zh-CN.md, in the same
// order, marked <!-- en: HEADING --> so that each can be updated on its own.
func TestReadmesHaveTheSameSections(t *testing.T) {
	t.Parallel()
	var headings []string
	for _, line := range readmeBlocks(t, readmeEnglish).prose {
		if strings.HasPrefix(line, "#") {
			headings = append(headings, line)
		}
	}
	var marked []string
	for _, m := range regexp.MustCompile(`(?m)^<!-- en: (.+) -->$`).FindAllStringSubmatch(readmeBlocks(t, readmeChinese).text, -1) {
		marked = append(marked, m[1])
	}
	if len(headings) < 10 {
		t.Fatalf("%s has only %d headings: %q", readmeEnglish, len(headings), headings)
	}
	if diff := cmp.Diff(headings, marked); diff != "" {
		t.Errorf("the headings of %s (-) and the sections marked in %s (+):\n%s", readmeEnglish, readmeChinese, diff)
	}
}

// headingAnchors returns the anchors a code host gives the headings of a
// Markdown text: lower case, punctuation dropped, spaces made hyphens.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		heading, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") {
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

// Links go to the web, to a file of the repository, or to a heading of the
// same README: never to ../shared or anywhere else outside it, which no
// clone has. The READMEs link each other and the tutorial's two public
// sources.
func TestReadmeLinks(t *testing.T) {
	t.Parallel()
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for name, other := range map[string]string{readmeEnglish: readmeChinese, readmeChinese: readmeEnglish} {
		text := readmeBlocks(t, name).text
		if strings.Contains(text, "../") {
			t.Errorf("%s mentions a path outside the repository (../)", name)
		}
		var targets []string
		anchors := headingAnchors(text)
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			targets = append(targets, target)
			if strings.HasPrefix(target, "https://") {
				continue
			}
			if anchor, ok := strings.CutPrefix(target, "#"); ok {
				if !anchors[anchor] {
					t.Errorf("%s links to %q, but has no heading with that anchor", name, target)
				}
				continue
			}
			if _, err := os.Stat(target); err != nil || strings.HasPrefix(target, "/") {
				t.Errorf("%s links to %q, which is neither a web page nor a file of the repository", name, target)
			}
		}
		for _, want := range []string{
			other,
			"https://www.liaoxuefeng.com/wiki/1016959663602400",
			"https://github.com/jackfrued/Python-100-Days",
		} {
			if !slices.Contains(targets, want) {
				t.Errorf("%s does not link to %s; its links: %q", name, want, targets)
			}
		}
	}
}

// markdown is a README split into the lines of its code blocks and the rest.
type markdown struct {
	name, text string
	code       []string // the lines inside ``` fences
	prose      []string // the other lines
}

func readmeBlocks(t *testing.T, name string) markdown {
	t.Helper()
	b, err := os.ReadFile(name)
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

// goRunCommands returns the go run command lines the README shows, as a
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

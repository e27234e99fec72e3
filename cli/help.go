package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// helpWidth is the column that help text never passes.
const helpWidth = 100

// commandHelp is cmd's help template with its options rendered here, each
// flag on a line of its own and its usage wrapped below it, so that the
// help fits helpWidth columns (urfave/cli aligns every usage after the
// longest flag, which made lines of 189 columns).
func commandHelp(cmd *cli.Command) string {
	var b strings.Builder
	b.WriteString("NAME:\n   {{template \"helpNameTemplate\" .}}\n\nUSAGE:\n   {{template \"usageTemplate\" .}}")
	b.WriteString("{{if .Description}}\n\nDESCRIPTION:\n   {{template \"descriptionTemplate\" .}}{{end}}\n")
	if len(cmd.Flags) > 0 {
		b.WriteString("\nOPTIONS:\n")
	}
	for _, f := range cmd.Flags {
		df, ok := f.(cli.DocGenerationFlag)
		if vf, visible := f.(cli.VisibleFlag); !ok || (visible && !vf.IsVisible()) {
			continue
		}
		usage, placeholder := splitPlaceholder(df.GetUsage())
		if placeholder == "" && df.TakesValue() {
			placeholder = "value"
		}
		var names []string
		for _, n := range f.Names() {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			names = append(names, dash+n)
		}
		// Short names first, the value once: -o, --output FILE.
		slices.SortStableFunc(names, func(a, b string) int { return len(a) - len(b) })
		line := strings.Join(names, ", ")
		if df.TakesValue() {
			line += " " + placeholder
		}
		fmt.Fprintf(&b, "   %s\n", line)
		if d := df.GetDefaultText(); d != "" && df.TakesValue() {
			usage += fmt.Sprintf(" (default: %s)", d)
		}
		if env := df.GetEnvVars(); len(env) > 0 {
			usage += " [$" + strings.Join(env, ", $") + "]"
		}
		for _, line := range wrapWords(usage, helpWidth-9) {
			fmt.Fprintf(&b, "         %s\n", line)
		}
	}
	return b.String()
}

// splitPlaceholder returns usage without the backquotes around its
// placeholder, and the placeholder ("write to `FILE`" -> FILE).
func splitPlaceholder(usage string) (string, string) {
	i := strings.IndexByte(usage, '`')
	j := strings.IndexByte(usage[i+1:], '`')
	if i < 0 || j < 0 {
		return usage, ""
	}
	name := usage[i+1 : i+1+j]
	return usage[:i] + name + usage[i+1+j+1:], name
}

// wrapWords breaks s into lines of at most width columns, at spaces.
func wrapWords(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

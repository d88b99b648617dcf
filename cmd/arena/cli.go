package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
)

// usageError is a command line Arena cannot make sense of: an unknown
// command or flag, a missing argument. It is told apart from a failure of
// what the command did because it exits 2, with a hint where the command's
// help is, rather than 1.
type usageError struct {
	// cmd is the command as far as it was understood, "arena session list".
	cmd string
	msg string
}

func (e *usageError) Error() string { return e.cmd + ": " + e.msg }

func usageErrorf(cmd, format string, args ...any) *usageError {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// newFlagSet returns the flag set of the command name, whose --help prints
// help to out: the text given, or else the flags' own descriptions. Flags
// are parsed with parseFlags, never with the set's own Parse, which would
// print its errors around the whole help.
func newFlagSet(name string, out io.Writer, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		if help != "" {
			fmt.Fprint(fs.Output(), help)
			return
		}
		fmt.Fprintf(fs.Output(), "Usage:\n  %s [flags]\n\nFlags:\n", name)
		printFlags(fs.Output(), fs)
	}
	// The completion scripts are made from the very flag sets the commands
	// parse, so that they cannot fall behind them.
	if c, ok := out.(*flagCapture); ok {
		c.sets = append(c.sets, fs)
	}
	return fs
}

// flagCapture collects the flag sets a command makes when it is run with
// --help, and discards the help.
type flagCapture struct{ sets []*flag.FlagSet }

func (*flagCapture) Write(p []byte) (int, error) { return len(p), nil }

// flagName spells a flag as the help texts do: -o, --server.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// printFlags lists fs's flags with their descriptions, spelt as flagName
// does.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, desc := flag.UnquoteUsage(f)
		line := "  " + flagName(f.Name)
		if kind != "" {
			line += " " + kind
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			desc += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n        %s\n", line, desc)
	})
}

// isBoolFlag tells whether a flag takes no value.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseFlags sets fs's flags from args, wherever they stand among the
// command's words, and returns the words; "--" ends the flags. Both -name
// and --name are taken. -h or --help prints the command's help and returns
// flag.ErrHelp; any other problem is a *usageError naming the first one.
// The words are fs.Args() too, for commands that take none.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var (
		words []string
		first error
		help  bool
	)
	fail := func(format string, a ...any) {
		if first == nil {
			first = usageErrorf(fs.Name(), format, a...)
		}
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			words = append(words, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			words = append(words, arg)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(arg[1:], "-"), "=")
		f := fs.Lookup(name)
		switch {
		case f == nil && (name == "h" || name == "help"):
			help = true
			continue
		case f == nil || name == "" || name[0] == '-':
			fail("unknown flag %s", flagName(strings.TrimLeft(name, "-")))
			continue
		case !hasValue && isBoolFlag(f):
			value = "true"
		case !hasValue:
			if i+1 == len(args) {
				fail("flag %s needs a value", flagName(name))
				continue
			}
			i++
			value = args[i]
		}
		if err := fs.Set(name, value); err != nil {
			fail("invalid value %q for %s: %v", value, flagName(name), err)
		}
	}
	if help {
		fs.Usage()
		return words, flag.ErrHelp
	}
	// Not for the flags, all set by now: so that fs.Args() has the words.
	if err := fs.Parse(append([]string{"--"}, words...)); err != nil {
		return nil, err
	}
	return words, first
}

// parseNoArgs is parseFlags for a command that takes flags only.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	words, err := parseFlags(fs, args)
	if err == nil && len(words) > 0 {
		err = usageErrorf(fs.Name(), "unexpected argument %q", words[0])
	}
	return err
}

// subcommand is a word of a group of commands, such as the list of
// arena session list, with the arguments it takes after it.
type subcommand struct {
	name string
	// args names the arguments for messages, "ID PATH"; the first min of
	// them are required.
	args     string
	min, max int // max < 0: any number
}

// subcommandNames lists the words of a group, for messages.
func subcommandNames(subs []subcommand) string {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

// parseCommand is parseFlags for a group of commands: it returns the
// subcommand and its arguments, or a *usageError when the words name none of
// subs or give it the wrong number of arguments.
func parseCommand(fs *flag.FlagSet, args []string, subs []subcommand) (string, []string, error) {
	words, err := parseFlags(fs, args)
	var sub *subcommand
	if len(words) > 0 {
		if i := slices.IndexFunc(subs, func(s subcommand) bool { return s.name == words[0] }); i >= 0 {
			sub = &subs[i]
		}
	}
	if ue := (*usageError)(nil); errors.As(err, &ue) && sub != nil {
		// A flag of arena session list is reported as list's.
		ue.cmd += " " + sub.name
	}
	switch {
	case err != nil:
		return "", nil, err
	case len(words) == 0:
		return "", nil, usageErrorf(fs.Name(), "missing command: one of %s", subcommandNames(subs))
	case sub == nil:
		return "", nil, usageErrorf(fs.Name(), "unknown command %q: one of %s", words[0], subcommandNames(subs))
	}
	rest, cmd := words[1:], fs.Name()+" "+sub.name
	switch {
	case len(rest) < sub.min:
		missing := strings.Fields(sub.args)[len(rest):sub.min]
		return "", nil, usageErrorf(cmd, "missing %s", strings.Join(missing, " "))
	case sub.max >= 0 && len(rest) > sub.max:
		return "", nil, usageErrorf(cmd, "unexpected argument %q", rest[sub.max])
	}
	return sub.name, rest, nil
}

// wantArgs is the check of parseCommand for a command that is no group:
// words must be the arguments args names, n of them.
func wantArgs(cmd string, words []string, args string) error {
	names := strings.Fields(args)
	switch {
	case len(words) < len(names):
		return usageErrorf(cmd, "missing %s", strings.Join(names[len(words):], " "))
	case len(words) > len(names):
		return usageErrorf(cmd, "unexpected argument %q", words[len(names)])
	}
	return nil
}

// output is the -o flag: how a command prints what the API answered.
type output struct {
	format  string
	formats []string
}

// outputFlag defines -o on fs, table by default, taking the formats given
// besides table.
func outputFlag(fs *flag.FlagSet, formats ...string) *output {
	o := &output{format: "table", formats: append([]string{"table"}, formats...)}
	fs.Var(o, "o", "output format: "+strings.Join(o.formats, ", "))
	return o
}

func (o *output) String() string {
	if o == nil {
		return ""
	}
	return o.format
}

func (o *output) Set(v string) error {
	if !slices.Contains(o.formats, v) {
		return fmt.Errorf("must be %s", strings.Join(o.formats, ", "))
	}
	o.format = v
	return nil
}

// print writes an API answer as JSON (as it came), as YAML, or for table
// as fill writes it, in aligned columns.
func (o *output) print(w io.Writer, body []byte, fill func(*tabwriter.Writer) error) error {
	switch o.format {
	case "json":
		_, err := w.Write(append(bytes.TrimRight(body, "\n"), '\n'))
		return err
	case "yaml":
		out, err := jsonToYAML(body)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if err := fill(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// jsonToYAML turns a JSON document into block-style YAML with its keys in
// the order they came. JSON is YAML already, so its nodes only lose their
// flow style and quotes; the encoder quotes again a string that would
// otherwise read as another type.
func jsonToYAML(body []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	var plain func(n *yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&doc)
	return yaml.Marshal(&doc)
}

// age is how long ago t was, in the largest unit that fits, as kubectl
// shows it: 45s, 3m, 5h, 12d, 2y. A time not known (zero) is "-".
func age(now, t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d/time.Second)))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d < 365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return fmt.Sprintf("%dy", int(d/(365*24*time.Hour)))
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

const completionUsage = `Usage:
  arena completion bash|zsh|fish

Prints a script that completes arena's commands, their words and their
flags in the shell named:

  bash   source <(arena completion bash)            in ~/.bashrc
  zsh    source <(arena completion zsh)             in ~/.zshrc, after compinit
  fish   arena completion fish > ~/.config/fish/completions/arena.fish
`

// completionCommands are the shells arena completion writes for.
var completionCommands = []subcommand{{name: "bash"}, {name: "zsh"}, {name: "fish"}}

func runCompletion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("arena completion", stdout, completionUsage)
	shell, _, err := parseCommand(fs, args, completionCommands)
	if err != nil {
		return err
	}
	specs := completionSpecs(ctx)
	switch shell {
	case "bash":
		_, err = io.WriteString(stdout, bashCompletion(specs))
	case "zsh":
		_, err = io.WriteString(stdout, zshCompletion(specs))
	case "fish":
		_, err = io.WriteString(stdout, fishCompletion(specs))
	}
	return err
}

// completionSpec is what the scripts complete of one command.
type completionSpec struct {
	name, summary string
	// words are those that may follow the command: its subcommands.
	words []string
	// flags are spelt as typed, --server, -o; values are those of them
	// that take a value.
	flags, values []string
}

// completionSpecs describes every command of the table for the scripts:
// the words of its group, and the flags of the flag sets it makes, taken by
// running it with --help, so that a flag added to a command is completed
// without anyone remembering to.
func completionSpecs(ctx context.Context) []completionSpec {
	var specs []completionSpec
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	for _, c := range commands() {
		sp := completionSpec{name: c.name, summary: c.summary}
		for _, s := range c.subs {
			sp.words = append(sp.words, s.name)
		}
		if c.name == "help" {
			sp.words = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "help" })
		}
		if c.run != nil {
			capture := &flagCapture{}
			_ = c.run(ctx, []string{"--help"}, capture, io.Discard)
			for _, fs := range capture.sets {
				fs.VisitAll(func(f *flag.Flag) {
					sp.flags = append(sp.flags, flagName(f.Name))
					if !isBoolFlag(f) {
						sp.values = append(sp.values, flagName(f.Name))
					}
				})
			}
		}
		sp.flags = append(sp.flags, "--help")
		slices.Sort(sp.flags)
		sp.flags = slices.Compact(sp.flags)
		slices.Sort(sp.values)
		sp.values = slices.Compact(sp.values)
		specs = append(specs, sp)
	}
	return specs
}

// shellQuote quotes s for bash and zsh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fishQuote quotes s for fish, in whose single quotes only \ and ' are
// special.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// wordsFunction writes a shell function, the same in bash and zsh, that
// sets subs, flags and values to the words, flags and flags taking a value
// of the command named by its argument.
func wordsFunction(b *strings.Builder, specs []completionSpec) {
	b.WriteString("_arena_words() {\n    case $1 in\n")
	for _, sp := range specs {
		fmt.Fprintf(b, "    %s)\n        subs=%s\n        flags=%s\n        values=%s\n        ;;\n", sp.name,
			shellQuote(strings.Join(sp.words, " ")), shellQuote(strings.Join(sp.flags, " ")), shellQuote(strings.Join(sp.values, " ")))
	}
	b.WriteString("    esac\n}\n")
}

func commandNames(specs []completionSpec) string {
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = sp.name
	}
	return strings.Join(names, " ")
}

func bashCompletion(specs []completionSpec) string {
	var b strings.Builder
	b.WriteString("# bash completion for arena. Load it with: source <(arena completion bash)\n\n")
	wordsFunction(&b, specs)
	fmt.Fprintf(&b, `
_arena() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd="" sub="" subs="" flags="" values="" i w
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ -z $cmd ]]; then
            cmd=$w
            _arena_words "$cmd"
        elif [[ " $values " == *" $w "* ]]; then
            ((i++))
        elif [[ $w != -* && -z $sub ]]; then
            sub=$w
        fi
    done
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W %s -- "$cur"))
    elif [[ $COMP_CWORD -gt 1 && " $values " == *" $prev "* ]]; then
        # The value of a flag: a file, say, for --config or -f.
        compopt -o default 2>/dev/null
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ -z $sub && -n $subs ]]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    fi
}

complete -F _arena arena
`, shellQuote(commandNames(specs)+" --help --version"))
	return b.String()
}

func zshCompletion(specs []completionSpec) string {
	var b strings.Builder
	b.WriteString("#compdef arena\n# zsh completion for arena. Load it with: source <(arena completion zsh)\n\n")
	wordsFunction(&b, specs)
	b.WriteString("\n_arena() {\n    local cmd=\"\" sub=\"\" subs=\"\" flags=\"\" values=\"\" i w\n    local -a commands\n    commands=(\n")
	for _, sp := range specs {
		fmt.Fprintf(&b, "        %s\n", shellQuote(sp.name+":"+strings.ReplaceAll(sp.summary, ":", `\:`)))
	}
	b.WriteString(`    )
    for ((i = 2; i < CURRENT; i++)); do
        w=${words[i]}
        if [[ -z $cmd ]]; then
            cmd=$w
            _arena_words "$cmd"
        elif [[ " $values " == *" $w "* ]]; then
            ((i++))
        elif [[ $w != -* && -z $sub ]]; then
            sub=$w
        fi
    done
    if [[ -z $cmd ]]; then
        if [[ ${words[CURRENT]} == -* ]]; then
            compadd -- --help --version
        else
            _describe -t commands 'arena command' commands
        fi
    elif [[ CURRENT -gt 2 && " $values " == *" ${words[CURRENT-1]} "* ]]; then
        _files
    elif [[ ${words[CURRENT]} == -* ]]; then
        compadd -- ${=flags}
    elif [[ -z $sub && -n $subs ]]; then
        compadd -- ${=subs}
    fi
}

if [[ $funcstack[1] == _arena ]]; then
    _arena "$@"
else
    compdef _arena arena
fi
`)
	return b.String()
}

func fishCompletion(specs []completionSpec) string {
	var b strings.Builder
	b.WriteString(`# fish completion for arena. Install it with:
#   arena completion fish > ~/.config/fish/completions/arena.fish

# __arena_at COMMAND VALUES: the command line is at COMMAND's word (its
# subcommand): after it come only flags, VALUES (space-separated) naming
# those that take a value.
function __arena_at
    set -l tokens (commandline -opc)
    test (count $tokens) -ge 2; and test $tokens[2] = $argv[1]; or return 1
    set -l values (string split ' ' -- $argv[2])
    set -l i 0
    set -l skip 0
    for t in $tokens
        set i (math $i + 1)
        if test $i -le 2
            continue
        else if test $skip -eq 1
            set skip 0
        else if contains -- $t $values
            set skip 1
        else if not string match -q -- '-*' $t
            return 1
        end
    end
    return 0
end

# __arena_in COMMAND: the command line is within COMMAND.
function __arena_in
    set -l tokens (commandline -opc)
    test (count $tokens) -ge 2; and test $tokens[2] = $argv[1]
end

complete -c arena -f
complete -c arena -n 'test (count (commandline -opc)) -eq 1' -l help -d 'print the help'
complete -c arena -n 'test (count (commandline -opc)) -eq 1' -l version -d 'print the version'
`)
	for _, sp := range specs {
		fmt.Fprintf(&b, "\ncomplete -c arena -n 'test (count (commandline -opc)) -eq 1' -a %s -d %s\n", sp.name, fishQuote(sp.summary))
		if len(sp.words) > 0 {
			cond := fmt.Sprintf("__arena_at %s %s", sp.name, shellQuote(strings.Join(sp.values, " ")))
			fmt.Fprintf(&b, "complete -c arena -n %s -a %s\n", fishQuote(cond), fishQuote(strings.Join(sp.words, " ")))
		}
		for _, f := range sp.flags {
			opt := "-l " + strings.TrimPrefix(f, "--")
			if !strings.HasPrefix(f, "--") {
				opt = "-s " + strings.TrimPrefix(f, "-")
			}
			if slices.Contains(sp.values, f) {
				opt += " -r"
			}
			fmt.Fprintf(&b, "complete -c arena -n %s %s\n", fishQuote("__arena_in "+sp.name), opt)
		}
	}
	return b.String()
}

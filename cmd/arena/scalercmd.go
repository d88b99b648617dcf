package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/arena-hq/arena/client"
)

const scalerUsage = `Usage:
  arena scaler status             the cloud machines Arena manages, and its recent decisions
  arena scaler policy [list]      each region's scaling policy
  arena scaler policy set REGION -f FILE
                                  create or replace REGION's policy from YAML or
                                  JSON (the admin API's ScalingPolicyInput);
                                  -f - reads it from stdin
  arena scaler policy delete REGION
                                  stop scaling REGION; its cloud machines retire once idle
  arena scaler provider [list]    the cloud providers, their credentials by name
  arena scaler provider set NAME --type TYPE [--setting K=V]...
                                  [--credential-env K=VAR]... [--credential-file K=PATH]...
                                  create or replace a provider: its settings are
                                  replaced, credentials not given are kept
  arena scaler provider delete NAME
                                  remove a provider that no policy offers

A credential's value is read from the environment variable VAR or from the
file PATH (without its trailing newline), never given on the command line,
where shell history and ps would keep it. Types: hetzner, aws, digitalocean
(a local provider runs a program on the control plane's host, and is for the
config file only); the admin API's CloudProviderInput lists what each takes.

A policy file:

  offers:                         tried in order
    - provider: hetzner
      region: fsn1                the provider's own region
      location: europe            the Arena location of its nodes
      instanceType: cx22
      image: "123456"
      costPerHour: 0.006
      capacity: {milliCpu: 2000, memoryMb: 4096}
  buffer: {sessions: 4, org: studio, application: echo}
  minNodes: 0
  maxNodes: 10
  idleTimeoutSeconds: 600         cooldowns, idle and join timeouts left out
                                  take the defaults: 30s, 10m, 10m

Flags:
  --server URL         control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN        a token with the operator scope (env ARENA_TOKEN)
  -o table|json|yaml   output format (default table)
`

// scalerCommands are the words of arena scaler; policy and provider are
// groups of words of their own, scalerGroups.
var scalerCommands = []subcommand{
	{name: "status"},
	{name: "policy", max: -1},
	{name: "provider", max: -1},
}

// scalerGroups are the words of arena scaler policy and arena scaler
// provider; list is the one meant when none is given.
var scalerGroups = map[string][]subcommand{
	"policy": {
		{name: "list"},
		{name: "set", args: "REGION", min: 1, max: 1},
		{name: "delete", args: "REGION", min: 1, max: 1},
	},
	"provider": {
		{name: "list"},
		{name: "set", args: "NAME", min: 1, max: 1},
		{name: "delete", args: "NAME", min: 1, max: 1},
	},
}

// scalerStdin is what -f - reads; the tests give their own.
var scalerStdin io.Reader = os.Stdin

func runScaler(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("arena scaler", stdout, scalerUsage)
	server := fs.String("server", "", "")
	token := fs.String("token", "", "")
	output := outputFlag(fs, "json", "yaml")
	file := fs.String("f", "", "")
	kind := fs.String("type", "", "")
	settings := pairs{}
	fs.Var(settings, "setting", "")
	var fromEnv, fromFile credentialSources
	fs.Var(&fromEnv, "credential-env", "")
	fs.Var(&fromFile, "credential-file", "")
	cmd, rest, err := parseScalerCommand(fs, args)
	if err != nil {
		return err
	}
	// All that the command line gives is read before any request, so that
	// a mistake in it leaves the control plane untouched.
	var (
		policy client.ScalingPolicyInput
		cloud  client.CloudProviderInput
	)
	switch cmd {
	case "policy set":
		if *file == "" {
			return usageErrorf(fs.Name()+" "+cmd, "missing -f FILE")
		}
		if policy, err = readPolicyFile(*file, scalerStdin); err != nil {
			return err
		}
	case "provider set":
		if *kind == "" {
			return usageErrorf(fs.Name()+" "+cmd, "missing --type TYPE")
		}
		cloud = client.CloudProviderInput{Type: *kind, Settings: settings}
		if cloud.Credentials, err = readCredentials(fs.Name()+" "+cmd, fromEnv, fromFile); err != nil {
			return err
		}
	}
	nodes := newAPIClient(*server, *token).Nodes()
	switch cmd {
	case "status", "policy list":
		st, err := nodes.Scaler(ctx)
		if err != nil {
			return err
		}
		if cmd == "policy list" {
			return showPolicies(output, stdout, st.Raw(), st.Policies...)
		}
		return showScalerStatus(output, stdout, st)
	case "policy set":
		p, err := nodes.PutScalingPolicy(ctx, rest[0], policy)
		if err != nil {
			return err
		}
		return showPolicies(output, stdout, p.Raw(), p)
	case "policy delete":
		if err := nodes.DeleteScalingPolicy(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "policy of %s deleted; its cloud machines retire once idle\n", rest[0])
		return nil
	case "provider list":
		l, err := nodes.CloudProviders(ctx)
		if err != nil {
			return err
		}
		return showProviders(output, stdout, l.Raw(), l.Providers...)
	case "provider set":
		p, err := nodes.PutCloudProvider(ctx, rest[0], cloud)
		if err != nil {
			return err
		}
		return showProviders(output, stdout, p.Raw(), p)
	case "provider delete":
		if err := nodes.DeleteCloudProvider(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "provider %s deleted\n", rest[0])
		return nil
	}
	return notHandled(fs, cmd)
}

// parseScalerCommand is parseCommand for arena scaler, whose policy and
// provider are groups of words of their own: it returns the words of the
// command, "policy set", and its arguments. A mistake of a flag is told as
// the command's as far as its words are known, arena scaler policy set.
func parseScalerCommand(fs *flag.FlagSet, args []string) (string, []string, error) {
	words, err := parseFlags(fs, args)
	if ue := (*usageError)(nil); errors.As(err, &ue) {
		known, subs := words, scalerCommands
		for len(known) > 0 && slices.ContainsFunc(subs, func(s subcommand) bool { return s.name == known[0] }) {
			ue.cmd += " " + known[0]
			subs, known = scalerGroups[known[0]], known[1:]
		}
	}
	if err != nil {
		return "", nil, err
	}
	cmd, rest, err := parseWords(fs.Name(), words, scalerCommands, "")
	if subs, ok := scalerGroups[cmd]; ok && err == nil {
		var sub string
		sub, rest, err = parseWords(fs.Name()+" "+cmd, rest, subs, "list")
		cmd += " " + sub
	}
	return cmd, rest, err
}

// parseWords is parseCommand's check of words: the one of subs they begin
// with (def when there are none, an error when def is ""), and its
// arguments. cmd is the command the words follow, arena scaler policy.
func parseWords(cmd string, words []string, subs []subcommand, def string) (string, []string, error) {
	if len(words) == 0 && def != "" {
		return def, nil, nil
	}
	if len(words) == 0 {
		return "", nil, usageErrorf(cmd, "missing command: one of %s", subcommandNames(subs))
	}
	i := slices.IndexFunc(subs, func(s subcommand) bool { return s.name == words[0] })
	if i < 0 {
		return "", nil, usageErrorf(cmd, "unknown command %q: one of %s", words[0], subcommandNames(subs))
	}
	sub, rest := subs[i], words[1:]
	cmd += " " + sub.name
	switch {
	case len(rest) < sub.min:
		missing := strings.Fields(sub.args)[len(rest):sub.min]
		return "", nil, usageErrorf(cmd, "missing %s", strings.Join(missing, " "))
	case sub.max >= 0 && len(rest) > sub.max:
		return "", nil, usageErrorf(cmd, "unexpected argument %q", rest[sub.max])
	}
	return sub.name, rest, nil
}

// showScalerStatus prints the scaler's machines, what they cost and its
// recent decisions.
func showScalerStatus(output *output, stdout io.Writer, st client.ScalerStatus) error {
	return output.print(stdout, st.Raw(), func(tw *tabwriter.Writer) error {
		fmt.Fprintln(tw, "NODE\tREGION\tPROVIDER\tTYPE\tSTATE\tCOST/H\tREASON")
		for _, m := range st.Machines {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.3f\t%s\n", m.Node, m.Region, m.Provider, cell(m.InstanceType), m.State, m.CostPerHour, cell(m.Reason))
		}
		fmt.Fprintf(tw, "\nCOST/H\t%.3f\n", st.CostPerHour)
		fmt.Fprintln(tw, "\nAT\tREGION\tDECISION\tNODE\tPROVIDER\tREASON")
		for _, d := range st.Decisions {
			reason := d.Reason
			if d.Error != "" {
				reason += " — failed: " + d.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.At, cell(d.Region), d.Kind, cell(d.Node), cell(d.Provider), reason)
		}
		return nil
	})
}

// showPolicies prints an answer of scaling policies, body, as it came or
// as a table of policies.
func showPolicies(output *output, stdout io.Writer, body []byte, policies ...client.ScalingPolicy) error {
	return output.print(stdout, body, func(tw *tabwriter.Writer) error {
		fmt.Fprintln(tw, "REGION\tSOURCE\tBUFFER\tNODES\tMAX COST/H\tIDLE\tOFFERS")
		for _, p := range policies {
			buffer := fmt.Sprintf("%d×%s", p.Buffer.Sessions, p.Buffer.Application)
			if p.Buffer.Sessions == 0 {
				buffer = fmt.Sprintf("%dm/%dMi", p.Buffer.Resources.MilliCPU, p.Buffer.Resources.MemoryMB)
			}
			offers := make([]string, len(p.Offers))
			for i, o := range p.Offers {
				offers[i] = fmt.Sprintf("%s:%s@%s (%.3f/h)", o.Provider, o.InstanceType, o.Region, o.CostPerHour)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d-%d\t%s\t%s\t%s\n", p.Region, cell(p.Source), buffer, p.MinNodes, p.MaxNodes, cell(p.MaxCostPerHour),
				time.Duration(p.IdleTimeoutSeconds*float64(time.Second)), cell(strings.Join(offers, ", ")))
		}
		return nil
	})
}

// showProviders prints an answer of cloud providers, body, as it came or
// as a table of providers, their credentials by name as the API gives
// them.
func showProviders(output *output, stdout io.Writer, body []byte, providers ...client.CloudProvider) error {
	return output.print(stdout, body, func(tw *tabwriter.Writer) error {
		fmt.Fprintln(tw, "NAME\tTYPE\tSOURCE\tSETTINGS\tCREDENTIALS")
		for _, p := range providers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Type, cell(p.Source), pairsText(p.Settings), cell(strings.Join(p.Credentials, ", ")))
		}
		return nil
	})
}

// credentialSources is a repeatable --credential-env or --credential-file:
// K=SOURCE, the credential K to be read from the variable or file SOURCE.
// It is taken as given and checked by readCredentials, whose errors do not
// repeat it: what was given may be the credential itself, by mistake.
type credentialSources []string

// String tells how many were given, not what: see the type.
func (c *credentialSources) String() string {
	if c == nil {
		return "0"
	}
	return strconv.Itoa(len(*c))
}

func (c *credentialSources) Set(v string) error { *c = append(*c, v); return nil }

// envName is what may name an environment variable.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxCredentialFile bounds what a credential is read from: far more than
// any credential, far less than a file named by mistake.
const maxCredentialFile = 64 << 10

// readCredentials reads each credential fromEnv names from its
// environment variable and each fromFile names from its file, with the
// trailing newline trimmed. A source that is no K=VAR or K=PATH is a
// *usageError of cmd; a variable unset or empty, a file that cannot be
// read or is empty, is an error too: a provider must not be stored with a
// credential that is not what its operator meant. None is nil, which
// keeps the stored ones.
func readCredentials(cmd string, fromEnv, fromFile credentialSources) (map[string]string, error) {
	type source struct {
		name, from string
		read       func(string) (string, error)
	}
	// The command line first, whole: its mistakes are told before the
	// environment's.
	var sources []source
	given := map[string]bool{}
	parse := func(name string, values credentialSources, what string, valid func(string) bool, read func(string) (string, error)) error {
		for _, v := range values {
			k, from, _ := strings.Cut(v, "=")
			if k == "" || !valid(from) {
				return usageErrorf(cmd, "each %s must be K=%s", name, what)
			}
			if given[k] {
				return usageErrorf(cmd, "credential %s is given twice", k)
			}
			given[k] = true
			sources = append(sources, source{k, from, read})
		}
		return nil
	}
	if err := parse("--credential-env", fromEnv, "VAR, VAR the name of the environment variable that holds the credential",
		envName.MatchString, readCredentialEnv); err != nil {
		return nil, err
	}
	if err := parse("--credential-file", fromFile, "PATH, PATH the file that holds the credential",
		func(path string) bool { return path != "" }, readCredentialFile); err != nil {
		return nil, err
	}
	var creds map[string]string
	for _, s := range sources {
		v, err := s.read(s.from)
		if err != nil {
			return nil, fmt.Errorf("credential %s: %w", s.name, err)
		}
		if creds == nil {
			creds = map[string]string{}
		}
		creds[s.name] = v
	}
	return creds, nil
}

// readCredentialEnv returns the value of the environment variable name,
// without a trailing newline, and an error when it is unset or empty.
func readCredentialEnv(name string) (string, error) {
	v, set := os.LookupEnv(name)
	v = strings.TrimRight(v, "\r\n")
	switch {
	case !set:
		return "", fmt.Errorf("the environment variable %s is not set", name)
	case v == "":
		return "", fmt.Errorf("the environment variable %s is empty", name)
	}
	return v, nil
}

// readCredentialFile returns what the file at path holds, bounded and
// without a trailing newline, and an error when that is nothing.
func readCredentialFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialFile+1))
	switch {
	case err != nil:
		return "", err
	case len(data) > maxCredentialFile:
		return "", fmt.Errorf("%s is larger than %d KiB: not a credential", path, maxCredentialFile>>10)
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// readPolicyFile reads a scaling policy from YAML or JSON (which is YAML),
// from stdin when path is "-". A field the policy does not have is an
// error, as the API's would be, rather than one dropped unseen.
func readPolicyFile(path string, stdin io.Reader) (client.ScalingPolicyInput, error) {
	var (
		in   client.ScalingPolicyInput
		data []byte
		err  error
		name = path
	)
	if path == "-" {
		name = "stdin"
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return in, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return in, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return in, fmt.Errorf("%s: not a scaling policy: want a mapping of its fields, such as offers and maxNodes", name)
	}
	root := doc.Content[0]
	// An image such as 123456 or an instance type such as 8 is a string,
	// whatever YAML would make of it: keep it as written.
	asString := func(m *yaml.Node, keys ...string) {
		for _, k := range keys {
			if n := mappingValue(m, k); n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
				n.Tag = "!!str"
			}
		}
	}
	if offers := mappingValue(root, "offers"); offers != nil && offers.Kind == yaml.SequenceNode {
		for _, o := range offers.Content {
			asString(o, "provider", "region", "location", "instanceType", "image")
		}
	}
	asString(mappingValue(root, "buffer"), "org", "application")
	var v any
	if err := root.Decode(&v); err != nil {
		return in, fmt.Errorf("%s: %w", name, err)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return in, fmt.Errorf("%s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		// Of the fields, not of the JSON this function made.
		return in, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "json: "))
	}
	return in, nil
}

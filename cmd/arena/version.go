package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"text/tabwriter"
)

const versionUsage = `Usage:
  arena version [-o table|json|yaml]
  arena --version

Prints the version of this binary, the commit it was built from (modified
when the tree had changes not committed), that commit's time, and the Go
release and platform it was built with.
`

// buildInfo is what arena version tells of the binary.
type buildInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commitTime,omitempty"`
	Modified   bool   `json:"modified"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
}

// readBuildInfo describes the binary from what the Go toolchain recorded
// in it. A version set with -ldflags wins; otherwise that of the module, when
// it was installed as one (go install …@v1.2.3).
func readBuildInfo(bi *debug.BuildInfo, ok bool) buildInfo {
	info := buildInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok {
		return info
	}
	if v := bi.Main.Version; info.Version == "dev" && v != "" && v != "(devel)" {
		info.Version = v
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.CommitTime = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("arena version", stdout, versionUsage)
	output := outputFlag(fs, "json", "yaml")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	info := readBuildInfo(debug.ReadBuildInfo())
	body, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return output.print(stdout, body, func(tw *tabwriter.Writer) error {
		commit, when := info.Commit, info.CommitTime
		if commit == "" {
			commit = "unknown (built outside a git checkout, or with -buildvcs=false)"
		} else if info.Modified {
			commit += " (modified)"
		}
		if when == "" {
			when = "unknown"
		}
		for _, f := range [][2]string{
			{"Version", info.Version},
			{"Commit", commit},
			{"Commit time", when},
			{"Go", info.GoVersion + " " + info.Platform},
		} {
			fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
		}
		return nil
	})
}

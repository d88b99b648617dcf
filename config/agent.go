package config

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// Agent is the configuration file of `arena agent`. Flags and ARENA_*
// environment variables override it.
type Agent struct {
	// Server is the control plane's address, or a list of its replicas'.
	Server    Servers `yaml:"server"`
	JoinToken string  `yaml:"joinToken"`
	NodeID    string  `yaml:"nodeId"`
	Region    string  `yaml:"region"`
	Location  string  `yaml:"location"`
	Provider  string  `yaml:"provider"`
	Class     string  `yaml:"class"`
	PublicIP  string  `yaml:"publicIp"`
	BindIP    string  `yaml:"bindIp"`
	// CPU is in cores and Memory in MiB; zero detects them.
	CPU       float64 `yaml:"cpu"`
	MemoryMB  int64   `yaml:"memoryMb"`
	PortRange string  `yaml:"portRange"`
	Data      string  `yaml:"data"`
	// HeartbeatInterval is a duration such as "5s".
	HeartbeatInterval string `yaml:"heartbeatInterval"`
	// StartConcurrency is how many containers the agent starts at once,
	// and StartTimeout (a duration such as "2m") each start's deadline;
	// zero and empty take the defaults.
	StartConcurrency int     `yaml:"startConcurrency"`
	StartTimeout     string  `yaml:"startTimeout"`
	Restart          Restart `yaml:"restart"`
	// ArtifactRetention and ArtifactMaxMB are as in the control plane's file.
	ArtifactRetention Duration `yaml:"artifactRetention"`
	ArtifactMaxMB     int64    `yaml:"artifactMaxMb"`
}

// LoadAgent reads an agent configuration file; an empty path is an empty
// configuration. Unknown keys are errors.
func LoadAgent(path string) (*Agent, error) {
	a := &Agent{}
	if path == "" {
		return a, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(a); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Servers is one control plane address or a list of them: `server: URL`,
// `server: URL1,URL2` or `server: [URL1, URL2]`. Each entry may hold
// several, comma-separated, as the command line takes them.
type Servers []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Servers) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!str" {
			return fmt.Errorf("line %d: server %q is not a URL", n.Line, n.Value)
		}
		*s = Servers{n.Value}
		return nil
	case yaml.SequenceNode:
		var out Servers
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
				return fmt.Errorf("line %d: each server is a URL", item.Line)
			}
			out = append(out, item.Value)
		}
		*s = out
		return nil
	}
	return fmt.Errorf("line %d: server is a URL or a list of URLs", n.Line)
}

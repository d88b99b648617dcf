package scaler

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/arena-hq/arena"
)

// TestUserData: the boot script is cloud-config YAML that starts the agent
// with the machine's settings and token, readable by root alone.
func TestUserData(t *testing.T) {
	boot := arena.MachineBoot{Servers: []string{"https://cp-1:8443", "https://cp-2:8443"}, JoinToken: "arena_join-secret",
		NodeID: "hetzner-ab12", Region: "europe", Location: "fsn", Provider: "hetzner", PortMin: 30000, PortMax: 31000,
		Capacity: arena.Resources{MilliCPU: 7500, MemoryMB: 15000}, AgentURL: "https://downloads.example/arena"}
	data := UserData(boot)
	if !strings.HasPrefix(data, "#cloud-config\n") {
		t.Fatalf("not cloud-config:\n%s", data)
	}
	var doc struct {
		WriteFiles []struct{ Path, Permissions, Content string } `yaml:"write_files"`
		RunCmd     [][]string                                    `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal([]byte(data), &doc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, data)
	}
	if len(doc.WriteFiles) != 2 || doc.WriteFiles[0].Path != "/etc/arena/agent.env" || doc.WriteFiles[0].Permissions != "0600" {
		t.Fatalf("files %+v", doc.WriteFiles)
	}
	for _, line := range []string{"ARENA_SERVER=https://cp-1:8443,https://cp-2:8443", "ARENA_JOIN_TOKEN=arena_join-secret", "ARENA_NODE_ID=hetzner-ab12",
		"ARENA_REGION=europe", "ARENA_LOCATION=fsn", "ARENA_PROVIDER=hetzner", "ARENA_CLASS=cloud", "ARENA_CPU=7.5", "ARENA_MEMORY=15000",
		"ARENA_PORT_RANGE=30000-31000"} {
		if !strings.Contains(doc.WriteFiles[0].Content, line+"\n") {
			t.Errorf("the agent's environment lacks %s:\n%s", line, doc.WriteFiles[0].Content)
		}
	}
	if len(doc.RunCmd) != 4 || doc.RunCmd[0][len(doc.RunCmd[0])-1] != boot.AgentURL || doc.RunCmd[3][2] != "--now" {
		t.Errorf("commands %q", doc.RunCmd)
	}
}

package scaler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/arena-hq/arena"
)

// UserData returns the boot script (cloud-init user data) of a cloud
// machine: it installs Docker when the image lacks it, fetches the arena
// binary from boot.AgentURL when one is given, and runs `arena agent` as a
// systemd service with the machine's node id, region, location, provider,
// class cloud, capacity and its single-use join token, in an environment
// file only root may read.
func UserData(boot arena.MachineBoot) string {
	env := map[string]string{
		"ARENA_SERVER": strings.Join(boot.Servers, ","), "ARENA_JOIN_TOKEN": boot.JoinToken,
		"ARENA_NODE_ID": boot.NodeID, "ARENA_REGION": boot.Region, "ARENA_LOCATION": boot.Location,
		"ARENA_PROVIDER": boot.Provider, "ARENA_CLASS": string(arena.ClassCloud), "ARENA_DATA": "/var/lib/arena",
	}
	if boot.Capacity.MilliCPU > 0 {
		env["ARENA_CPU"] = strconv.FormatFloat(float64(boot.Capacity.MilliCPU)/1000, 'f', -1, 64)
	}
	if boot.Capacity.MemoryMB > 0 {
		env["ARENA_MEMORY"] = strconv.FormatInt(boot.Capacity.MemoryMB, 10)
	}
	if boot.PortMin > 0 && boot.PortMax >= boot.PortMin {
		env["ARENA_PORT_RANGE"] = fmt.Sprintf("%d-%d", boot.PortMin, boot.PortMax)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	b.WriteString("packages: [docker.io, curl]\n")
	b.WriteString("write_files:\n")
	b.WriteString("  - path: /etc/arena/agent.env\n    permissions: '0600'\n    content: |\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "      %s=%s\n", k, env[k])
	}
	b.WriteString("  - path: /etc/systemd/system/arena-agent.service\n    content: |\n")
	b.WriteString("      [Unit]\n      Description=Arena agent\n      After=docker.service network-online.target\n      Requires=docker.service\n")
	b.WriteString("      [Service]\n      EnvironmentFile=/etc/arena/agent.env\n      ExecStart=/usr/local/bin/arena agent\n      Restart=always\n      RestartSec=2\n")
	b.WriteString("      [Install]\n      WantedBy=multi-user.target\n")
	b.WriteString("runcmd:\n")
	if boot.AgentURL != "" {
		fmt.Fprintf(&b, "  - [curl, -fsSL, -o, /usr/local/bin/arena, %q]\n", boot.AgentURL)
		b.WriteString("  - [chmod, '0755', /usr/local/bin/arena]\n")
	}
	b.WriteString("  - [systemctl, daemon-reload]\n  - [systemctl, enable, --now, arena-agent.service]\n")
	return b.String()
}

package arena

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Limits of what the admin API accepts beyond those of a session request,
// so that no input is unbounded.
const (
	MaxEntityID  = 64
	MaxTags      = 100
	MaxPorts     = 32
	MaxArtifacts = 16
	MaxSecret    = 4 << 10
	// MaxRegions bounds an application's regions, which placement checks
	// for every candidate node.
	MaxRegions = 32
	// MaxApplicationsPerOrg bounds what one organisation makes every node
	// hold: each tag of each application is pulled onto every node.
	MaxApplicationsPerOrg = 100
	// MaxTmpfs bounds a container's tmpfs mounts, and MaxTmpfsPath the
	// length of each one's path. Their size is bounded too: each is at most
	// the container's memory limit, which their contents count against.
	MaxTmpfs     = 8
	MaxTmpfsPath = 256
	// MaxUserID is the largest uid or gid a user may name, the largest
	// that every tool reading it as a signed 32-bit number takes.
	MaxUserID = 1<<31 - 1
)

var (
	// namePattern is the grammar of organisation, application and user ids:
	// they appear in paths and container labels.
	namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	// repositoryPattern is a Docker repository: an optional registry host
	// (with port) and lower-case path components. A first component is a
	// host only with a '.' or a port, or as localhost: otherwise Docker
	// takes it for a path (or, in capitals, still for a host, which the
	// registry client does not).
	repositoryPattern = regexp.MustCompile(`^((localhost|[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)+)(:[0-9]+)?/|[a-zA-Z0-9-]+:[0-9]+/)?[a-z0-9]+((\.|__?|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|__?|-+)[a-z0-9]+)*)*$`)
	// tagPattern is the grammar of a Docker tag.
	tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// userPattern is a user and an optional group, each a number or a name
	// as useradd and groupadd take them (at most 32 characters).
	userPattern = regexp.MustCompile(`^([0-9]{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,31})(:([0-9]{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,31}))?$`)
	// mountPathPattern is an absolute path whose components are
	// unremarkable file names: a tmpfs path is handed to the engine as a
	// mount point, where ',' and ':' would read as options.
	mountPathPattern = regexp.MustCompile(`^(/[A-Za-z0-9_.+@-]+)+$`)
)

// kernelPaths are the folders the kernel and the engine mount in every
// container; a tmpfs over one of them would hide what they provide.
var kernelPaths = []string{"/proc", "/sys", "/dev"}

// ValidName checks an id of an organisation, application or user.
func ValidName(field, name string) *Violation {
	switch {
	case name == "":
		return &Violation{Field: field, Description: "is required"}
	case len(name) > MaxEntityID:
		return &Violation{Field: field, Description: fmt.Sprintf("must be at most %d characters", MaxEntityID)}
	case !namePattern.MatchString(name):
		return &Violation{Field: field, Description: "may contain only lower-case letters, digits, '.', '_' and '-', and must start with a letter or digit"}
	}
	return nil
}

// ValidTag reports whether s is a valid Docker tag.
func ValidTag(s string) bool { return tagPattern.MatchString(s) }

// Validate checks an application as the admin API and the config file
// take it, filling the defaults of Network. It returns EINVALID listing
// every violation.
func (a *Application) Validate() error {
	var v []Violation
	add := func(field, format string, args ...any) {
		v = append(v, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
	}
	if bad := ValidName("name", a.Name); bad != nil {
		v = append(v, *bad)
	}
	if len(a.Repository) > 255 || !repositoryPattern.MatchString(a.Repository) {
		add("repository", "must be a Docker repository such as registry.example.com/studio/game")
	}
	// No tag is valid: an application made through the Gameye API has none
	// until one is enabled, and sessions of it are refused until then.
	if len(a.Tags) > MaxTags {
		add("tags", "must list at most %d tags", MaxTags)
	}
	switch {
	case a.TagKeep < 0 || a.TagKeep > MaxTags:
		add("tagKeep", "must be between 0 and %d", MaxTags)
	case a.TagKeep > 0 && len(a.Tags) > a.TagKeep:
		add("tags", "must list at most tagKeep (%d) tags", a.TagKeep)
	}
	seen := map[string]bool{}
	for i, t := range a.Tags {
		switch {
		case !tagPattern.MatchString(t.Name):
			add(fmt.Sprintf("tags[%d].name", i), "must be a Docker tag: letters, digits, '_', '.' and '-', at most 128")
		case seen[t.Name]:
			add(fmt.Sprintf("tags[%d].name", i), "is listed twice")
		}
		seen[t.Name] = true
	}
	if a.Network == "" {
		a.Network = NetworkBridge
	}
	if a.Network != NetworkBridge && a.Network != NetworkHost {
		add("network", "must be bridge or host")
	}
	if len(a.Ports) > MaxPorts {
		add("ports", "must list at most %d ports", MaxPorts)
	}
	ports := map[PortSpec]bool{}
	for i, p := range a.Ports {
		switch {
		case p.Container < 1 || p.Container > 65535 || (p.Protocol != TCP && p.Protocol != UDP):
			add(fmt.Sprintf("ports[%d]", i), "must be a port 1-65535 with protocol tcp or udp")
		case ports[p]:
			add(fmt.Sprintf("ports[%d]", i), "is listed twice")
		}
		ports[p] = true
	}
	if a.Resources.MilliCPU <= 0 || a.Resources.MemoryMB <= 0 || a.Resources.MilliCPU > 1_000_000 || a.Resources.MemoryMB > 16<<20 {
		add("resources", "milliCpu and memoryMb must be positive (and at most 1000 cores and 16 TiB)")
	}
	// A limit below the reservation would book more than the container may
	// use; one of CPU and memory alone is not a limit either, since the
	// other would be capped at zero.
	if l := a.Limits; l != (Resources{}) && (l.MilliCPU < a.Resources.MilliCPU || l.MemoryMB < a.Resources.MemoryMB ||
		l.MilliCPU > 1_000_000 || l.MemoryMB > 16<<20) {
		add("limits", "milliCpu and memoryMb must each be at least the reservation's (and at most 1000 cores and 16 TiB), or both 0 for the reservation")
	}
	if len(a.Regions) > MaxRegions {
		add("regions", "must list at most %d regions", MaxRegions)
	}
	regions := map[string]bool{}
	for i, r := range a.Regions {
		field := fmt.Sprintf("regions[%d]", i)
		switch bad := ValidName(field, r); {
		case bad != nil:
			v = append(v, *bad)
		case regions[r]:
			add(field, "is listed twice")
		}
		regions[r] = true
	}
	if a.NodePool != "" {
		if bad := ValidName("nodePool", a.NodePool); bad != nil {
			v = append(v, *bad)
		}
	}
	if len(a.Env) > MaxEnvEntries {
		add("env", "must have at most %d variables", MaxEnvEntries)
	}
	for k, val := range a.Env {
		if !envKeyPattern.MatchString(k) || len(k) > MaxLabelKeyBytes || len(val) > MaxEnvValueBytes {
			add("env."+k, "must be a variable name (letters, digits, '_', '.', '-') with a value of at most %d bytes", MaxEnvValueBytes)
		}
	}
	if len(a.Args) > MaxArgs {
		add("args", "must have at most %d arguments", MaxArgs)
	}
	for i, arg := range a.Args {
		if len(arg) > MaxArgBytes {
			add(fmt.Sprintf("args[%d]", i), "must be at most %d bytes", MaxArgBytes)
		}
	}
	if a.StopGrace < 0 || a.StopGrace > 10*time.Minute {
		add("stopGraceSeconds", "must be between 0 and 600")
	}
	if len(a.ArtifactPaths) > MaxArtifacts {
		add("artifacts", "must list at most %d paths", MaxArtifacts)
	}
	for i, p := range a.ArtifactPaths {
		switch {
		case !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" || len(p) > 1024:
			add(fmt.Sprintf("artifacts[%d]", i), "must be a clean absolute path below /")
		case a.Security.TmpfsOf(p) != "":
			// The engine drops a tmpfs when the container stops, before
			// the agent could copy anything out of it.
			add(fmt.Sprintf("artifacts[%d]", i), "lies on tmpfs %s, whose contents are gone when the session stops", a.Security.TmpfsOf(p))
		}
	}
	v = append(v, a.Security.violations()...)
	v = append(v, a.Readiness.violations()...)
	v = append(v, poolViolations(a.Pools)...)
	if r := a.Registry; r != nil {
		if r.Username == "" || len(r.Username) > 256 || r.Password == "" || len(r.Password) > MaxSecret {
			add("registry", "needs a username (at most 256 bytes) and a password (at most %d bytes)", MaxSecret)
		}
	}
	if len(v) > 0 {
		return Invalid(v...)
	}
	return nil
}

// Validate checks c as a runtime takes it, returning EINVALID listing
// every violation.
func (c ContainerSecurity) Validate() error {
	if v := c.violations(); len(v) > 0 {
		return Invalid(v...)
	}
	return nil
}

// violations lists what is wrong with c, its fields named as the APIs and
// the config file name them.
func (c ContainerSecurity) violations() []Violation {
	var v []Violation
	add := func(field, format string, args ...any) {
		v = append(v, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
	}
	if c.User != "" && !validUser(c.User) {
		add("user", "must be a uid or a user name, optionally with :gid or :group (e.g. 1000, 1000:1000, games); ids at most %d, names at most 32 characters", MaxUserID)
	}
	if len(c.Tmpfs) > MaxTmpfs {
		add("tmpfs", "must list at most %d paths", MaxTmpfs)
	}
	seen := map[string]bool{}
	for i, p := range c.Tmpfs {
		field := fmt.Sprintf("tmpfs[%d]", i)
		switch {
		case len(p) > MaxTmpfsPath || !mountPathPattern.MatchString(p) || path.Clean(p) != p:
			add(field, "must be a clean absolute path below / of letters, digits and '_', '.', '+', '@', '-', at most %d bytes", MaxTmpfsPath)
		case kernelPath(p):
			add(field, "must not be within /proc, /sys or /dev, which the kernel and the engine provide")
		case seen[p]:
			add(field, "is listed twice")
		}
		seen[p] = true
	}
	return v
}

// validUser reports whether s is a user, with an optional group, that the
// engine can resolve: numbers within MaxUserID, or names.
func validUser(s string) bool {
	if !userPattern.MatchString(s) {
		return false
	}
	for _, part := range strings.Split(s, ":") {
		if n, err := strconv.ParseUint(part, 10, 64); err == nil && n > MaxUserID {
			return false
		}
	}
	return true
}

func kernelPath(p string) bool {
	for _, k := range kernelPaths {
		if p == k || strings.HasPrefix(p, k+"/") {
			return true
		}
	}
	return false
}

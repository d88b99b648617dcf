package arena

import (
	"fmt"
	"slices"
)

// RegistryAuth is what a node presents to a private registry to pull an
// application's images. It prints as the username alone, so that a log line
// or an error that formats it cannot leak the password.
type RegistryAuth struct {
	Username string
	Password string
}

// String implements fmt.Stringer without the password.
func (a RegistryAuth) String() string { return fmt.Sprintf("RegistryAuth{%s:***}", a.Username) }

// GoString implements fmt.GoStringer without the password.
func (a RegistryAuth) GoString() string { return a.String() }

// WantedImage is an image every node should hold before a session needs it:
// one tag of one organisation's application, with the credentials of its
// registry (nil for a public one). One reference may be wanted by several
// organisations, each with its own credentials: a node holding a private
// image runs it only for organisations whose credentials the registry took.
type WantedImage struct {
	OrgID string
	Ref   string
	Auth  *RegistryAuth
}

// Catalog answers which applications an organisation may run: what
// placing a session reads, and what nodes pull ahead of need. It answers
// from memory, since placing must not wait on a store for what rarely
// changes; the tenant package implements it.
type Catalog interface {
	// Application returns an organisation's application by name, or ENOTFOUND.
	Application(orgID, name string) (*Application, error)
	// Images returns every image the nodes should hold: each tag of each
	// application, with its registry's credentials.
	Images() []WantedImage
	// Pools returns the warm pools of every application.
	Pools() []PoolSpec
}

// ImageState is how far a node is with a wanted image.
type ImageState string

// Image states, as agents report them in their heartbeats.
const (
	// ImagePresent: the node holds the image; sessions start without a pull.
	ImagePresent ImageState = "present"
	// ImagePulling: the node is fetching the image.
	ImagePulling ImageState = "pulling"
	// ImageFailed: the last pull failed; the agent tries again later.
	ImageFailed ImageState = "failed"
)

// NodeImage is a node's state of one wanted image.
type NodeImage struct {
	Ref   string
	State ImageState
	// Error says why the last pull failed, for ImageFailed.
	Error string
	// Refused lists, ordered, the organisations wanting this private image
	// whose credentials the registry refused: the node holds the image, but
	// will not run it for them.
	Refused []string
}

// Equal reports whether a and b say the same.
func (a NodeImage) Equal(b NodeImage) bool {
	return a.Ref == b.Ref && a.State == b.State && a.Error == b.Error && slices.Equal(a.Refused, b.Refused)
}

// Heartbeat says that a node is alive, which of the wanted images it holds
// and, when Ports is not nil, what its agent knows of the host ports of its
// range. Ports is nil when nothing changed since the agent last sent it: the
// control plane keeps what it had.
type Heartbeat struct {
	NodeID string
	Images []NodeImage
	Ports  *HostPorts
	// Starts is how the node's agent keeps up with starting containers;
	// nil from an agent that does not say, whose starts placement then
	// does not pace.
	Starts *StartQueue
}

// TagStatus is whether a tag of an application can run in a region now.
type TagStatus struct {
	// Exists is true when at least one node of the region that takes
	// sessions holds the tag's image.
	Exists bool
	// State is ImagePresent when Exists; otherwise ImagePulling while some
	// node fetches the image, ImageFailed when the nodes' pulls failed, and
	// TagMissing when the tag is not configured or no node has tried.
	State ImageState
	// Nodes counts the region's nodes that take sessions, and Present,
	// Pulling and Failed how many of them are in each state of the image.
	Nodes, Present, Pulling, Failed int
	// Error is a failed pull's reason, when State is ImageFailed.
	Error string
}

// TagMissing is the TagStatus state of a tag that no node holds or fetches:
// it is not one of the application's tags, or no node has tried yet.
const TagMissing ImageState = "missing"

// WantedImages returns the images of every tag of apps, once per
// organisation and reference.
func WantedImages(apps []*Application) []WantedImage {
	var out []WantedImage
	seen := map[[2]string]bool{}
	for _, a := range apps {
		for _, t := range a.Tags {
			ref := a.ImageRef(t.Name)
			if seen[[2]string{a.OrgID, ref}] {
				continue
			}
			seen[[2]string{a.OrgID, ref}] = true
			out = append(out, WantedImage{OrgID: a.OrgID, Ref: ref, Auth: a.Registry})
		}
	}
	return out
}

package http

import (
	"net/http"
	"regexp"

	"github.com/arena-hq/arena"
)

// tagPattern is the grammar of a Docker tag.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// maxTagPathName bounds the region and image of a tag lookup.
const maxTagPathName = 128

type (
	// tagOk is the contract's TagOk with how far the region's nodes are.
	tagOk struct {
		Exists bool     `json:"exists"`
		Status string   `json:"status"`
		Nodes  tagNodes `json:"nodes"`
		Error  string   `json:"error,omitempty"`
	}
	tagNodes struct {
		Total   int `json:"total"`
		Present int `json:"present"`
		Pulling int `json:"pulling"`
		Failed  int `json:"failed"`
	}
)

// tagExists answers whether a tag of an image can run in a region now. A
// malformed path is answered 400, as the contract has it for this operation.
func (s *api) tagExists(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	region, image, version := r.PathValue("region"), r.PathValue("image"), r.PathValue("version")
	var violations []arena.Violation
	for _, p := range []struct{ field, value string }{{"region", region}, {"image", image}} {
		if len(p.value) > maxTagPathName {
			violations = append(violations, arena.Violation{Field: p.field, Description: "must be at most 128 characters"})
		}
	}
	if !tagPattern.MatchString(version) {
		violations = append(violations, arena.Violation{Field: "version", Description: "must be a Docker tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'"})
	}
	if len(violations) > 0 {
		return &arena.Error{Code: codeBadRequest, Message: "the tag to look up is malformed", Violations: violations}
	}
	st, err := s.nodes.TagStatus(r.Context(), tok.OrgID, region, image, version)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, newTagOk(st))
	return nil
}

func newTagOk(st arena.TagStatus) tagOk {
	return tagOk{
		Exists: st.Exists, Status: string(st.State), Error: st.Error,
		Nodes: tagNodes{Total: st.Nodes, Present: st.Present, Pulling: st.Pulling, Failed: st.Failed},
	}
}

func (s *api) listRegions(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	regions, err := s.nodes.Regions(r.Context())
	if err != nil {
		return err
	}
	if regions == nil {
		regions = []string{}
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		Regions []string `json:"regions"`
	}{regions})
	return nil
}

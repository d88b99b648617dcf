package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/arena-hq/arena"
)

var arenaCodeList = []string{arena.EINVALID, arena.ENOTFOUND, arena.ECONFLICT, arena.EUNAVAILABLE, arena.EUNAUTHORIZED, arena.EINTERNAL}

func TestErrorTables(t *testing.T) {
	for _, code := range arenaCodeList {
		t.Run("arena "+code+" travels as itself", func(t *testing.T) {
			c, ok := connectCodes[code]
			if !ok {
				t.Fatalf("no Connect code for %s", code)
			}
			if back := arenaCodes[c]; back != code {
				t.Fatalf("%s travels as %s and arrives as %s", code, c, back)
			}
		})
	}
	for c := connect.CodeCanceled; c <= connect.CodeUnauthenticated; c++ {
		t.Run("connect "+c.String()+" is classified", func(t *testing.T) {
			if _, ok := arenaCodes[c]; !ok {
				t.Fatalf("no arena code for %s", c)
			}
		})
	}
}

func TestToConnectHidesCauses(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode connect.Code
		wantMsg  string
	}{
		{"arena error", arena.Errorf(arena.ECONFLICT, "session s1 cannot go from stopped to running"), connect.CodeFailedPrecondition, "session s1 cannot go from stopped to running"},
		{"wrapped arena error", fmt.Errorf("reporting: %w", arena.Errorf(arena.ENOTFOUND, "no s1")), connect.CodeNotFound, "no s1"},
		{"internal error with a cause", arena.Internal(errors.New("disk /var/lib full"), "saving"), connect.CodeInternal, "internal error while saving"},
		{"plain error", errors.New("database is locked"), connect.CodeInternal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce := toConnect(tt.err)
			if ce.Code() != tt.wantCode || ce.Message() != tt.wantMsg {
				t.Fatalf("got %s %q, want %s %q", ce.Code(), ce.Message(), tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestFromConnect(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode string
		wantMsg  string
		wantIs   error
	}{
		{"nil", nil, "", "", nil},
		{"sent by the server", connect.NewWireError(connect.CodePermissionDenied, errors.New("not yours")), arena.EUNAUTHORIZED, "not yours", nil},
		{"caller's context ended", connect.NewError(connect.CodeCanceled, context.Canceled), arena.EUNAVAILABLE, "the call to the control plane failed", context.Canceled},
		{"deadline", connect.NewError(connect.CodeDeadlineExceeded, context.DeadlineExceeded), arena.EUNAVAILABLE, "the call to the control plane failed", context.DeadlineExceeded},
		{"not a Connect error", errors.New("boom"), arena.EINTERNAL, "the call to the control plane failed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fromConnect(tt.err)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if arena.ErrorCode(err) != tt.wantCode || arena.ErrorMessage(err) != tt.wantMsg {
				t.Fatalf("got %s %q, want %s %q", arena.ErrorCode(err), arena.ErrorMessage(err), tt.wantCode, tt.wantMsg)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("%v does not wrap %v", err, tt.wantIs)
			}
			if strings.Count(err.Error(), tt.wantMsg) != 1 {
				t.Errorf("message repeated or lost in %q", err.Error())
			}
		})
	}
}

package aws

import (
	"context"
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/provider/internal/fakeapi"
)

const (
	testKeyID  = "AKIAARENATESTKEY0001"
	testSecret = "arena/test/secret/key/0123456789abcdefghij"
)

// newProvider returns a provider of the fake with retries fast enough for
// tests; change adjusts its config.
func newProvider(tb testing.TB, f *fake, change ...func(*Config)) *Provider {
	tb.Helper()
	return fakeapi.NewDriver(tb, New, Config{Name: "aws-eu", Region: "eu-central-1", AccessKeyID: testKeyID, SecretAccessKey: testSecret,
		Endpoint: f.srv.URL, MaxRetries: 2, RetryWait: time.Millisecond, RetryMaxWait: 2 * time.Millisecond}, change...)
}

// wantCode fails unless err is an *arena.Error of code whose text shows
// neither the key's ID nor its secret.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	fakeapi.WantCode(tb, err, code, testKeyID, testSecret)
}

func labels(node string) map[string]string {
	return map[string]string{arena.MachineLabelInstallation: "inst-1", arena.MachineLabelNode: node}
}

func testSpec() arena.MachineSpec {
	return arena.MachineSpec{Name: "arena-n1", NodeID: "n1", Region: "eu-central-1", InstanceType: "t3.small",
		Image: "ami-0123456789abcdef0", UserData: "#cloud-config\nruncmd: [arena agent]\n", Labels: labels("n1")}
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name     string
		region   string
		change   func(*Config)
		wantZone string
		check    func(*testing.T, request)
	}{
		{name: "region", region: "eu-central-1", check: func(t *testing.T, r request) {
			if r.Form.Has("SubnetId") || r.Form.Has("NetworkInterface.1.SubnetId") {
				t.Errorf("a subnet without one configured: %v", r.Form)
			}
		}},
		{name: "zone", region: "eu-central-1b", wantZone: "eu-central-1b"},
		{name: "subnet", region: "eu-central-1", change: func(c *Config) {
			c.SubnetID, c.SecurityGroupIDs, c.KeyName = "subnet-1", []string{"sg-1", "sg-2"}, "ops"
		}, check: func(t *testing.T, r request) {
			ni := "NetworkInterface.1."
			if r.Form.Get(ni+"SubnetId") != "subnet-1" || r.Form.Get(ni+"AssociatePublicIpAddress") != "true" ||
				r.Form.Get(ni+"DeviceIndex") != "0" || !slices.Equal(r.list(ni+"SecurityGroupId"), []string{"sg-1", "sg-2"}) ||
				r.Form.Get("KeyName") != "ops" {
				t.Errorf("network interface and key = %v", r.Form)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(_ int, r request) fakeapi.Answer {
				if r.Action() != "RunInstances" {
					return ec2Error(http.StatusBadRequest, "InvalidAction")
				}
				return runAnswer(instance("i-0abc", "arena-n1", "pending", "", labels("n1")))
			})
			var change []func(*Config)
			if tt.change != nil {
				change = append(change, tt.change)
			}
			spec := testSpec()
			spec.Region = tt.region
			m, err := newProvider(t, f, change...).Create(t.Context(), spec)
			if err != nil {
				t.Fatal(err)
			}
			fakeapi.WantMachine(t, m, arena.Machine{ID: "i-0abc", Name: "arena-n1", Labels: labels("n1"), Status: "pending",
				CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})

			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/" || r.Form.Get("Version") != "2016-11-15" {
				t.Errorf("request = %s %s version %q", r.Method, r.Path, r.Form.Get("Version"))
			}
			if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+testKeyID+"/") ||
				!strings.Contains(auth, "/eu-central-1/ec2/aws4_request") {
				t.Errorf("Authorization = %q, want a signature of the key in eu-central-1", auth)
			}
			userData, err := base64.StdEncoding.DecodeString(r.Form.Get("UserData"))
			if err != nil || string(userData) != spec.UserData {
				t.Errorf("UserData = %q (%v), want the spec's in base64", r.Form.Get("UserData"), err)
			}
			for k, want := range map[string]string{"ImageId": spec.Image, "InstanceType": spec.InstanceType, "MinCount": "1", "MaxCount": "1",
				"TagSpecification.1.ResourceType": "instance", "Placement.AvailabilityZone": tt.wantZone} {
				if got := r.Form.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if r.Form.Get("ClientToken") == "" {
				t.Error("no client token: a retry could run a second instance")
			}
			wantTags := labels("n1")
			wantTags["Name"] = "arena-n1"
			if got := r.tags("TagSpecification.1"); !maps.Equal(got, wantTags) {
				t.Errorf("tags = %v, want %v", got, wantTags)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestCreateOtherRegion(t *testing.T) {
	for _, region := range []string{"us-east-1", "eu-central-10", "eu-central-1ab"} {
		t.Run(region, func(t *testing.T) {
			f := newFake(t, always(ec2Error(http.StatusInternalServerError, "InternalError")))
			spec := testSpec()
			spec.Region = region
			_, err := newProvider(t, f).Create(t.Context(), spec)
			wantCode(t, err, arena.EINVALID)
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}

func TestList(t *testing.T) {
	f := newFake(t, func(_ int, r request) fakeapi.Answer {
		if r.Action() != "DescribeInstances" {
			return ec2Error(http.StatusBadRequest, "InvalidAction")
		}
		if r.Form.Get("NextToken") == "page-2" {
			return describeAnswer("", instance("i-3", "arena-n3", "stopped", "", labels("n3")))
		}
		return describeAnswer("page-2", instance("i-1", "arena-n1", "running", "203.0.113.1", labels("n1")),
			instance("i-2", "arena-n2", "pending", "", labels("n2")))
	})
	machines, err := newProvider(t, f).List(t.Context(), labels("n1"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range machines {
		ids = append(ids, m.ID)
		if !maps.Equal(m.Labels, labels(m.NodeID())) || m.Name != "arena-"+m.NodeID() {
			t.Errorf("machine %s: name %q, labels %v", m.ID, m.Name, m.Labels)
		}
	}
	if !slices.Equal(ids, []string{"i-1", "i-2", "i-3"}) {
		t.Errorf("ids = %v, want both pages' [i-1 i-2 i-3]", ids)
	}
	if machines[0].PublicIP != "203.0.113.1" || machines[0].Status != "running" {
		t.Errorf("first machine = %+v", machines[0])
	}

	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(reqs))
	}
	if reqs[0].Form.Has("NextToken") || reqs[1].Form.Get("NextToken") != "page-2" {
		t.Errorf("next tokens = %q, %q", reqs[0].Form.Get("NextToken"), reqs[1].Form.Get("NextToken"))
	}
	want := map[string][]string{
		"instance-state-name":    {"pending", "running", "stopping", "stopped"},
		"tag:arena-installation": {"inst-1"},
		"tag:arena-node":         {"n1"},
	}
	for i, r := range reqs {
		if got := r.filters(); !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("request %d: filters = %v, want %v", i, got, want)
		}
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name   string
		answer fakeapi.Answer
		want   string
	}{
		{name: "terminated", answer: terminateAnswer("i-0abc", "running")},
		{name: "not found", answer: ec2Error(http.StatusBadRequest, "InvalidInstanceID.NotFound"), want: arena.ENOTFOUND},
		{name: "terminated before", answer: terminateAnswer("i-0abc", "terminated"), want: arena.ENOTFOUND},
		{name: "malformed", answer: ec2Error(http.StatusBadRequest, "InvalidInstanceID.Malformed"), want: arena.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, always(tt.answer))
			err := newProvider(t, f).Delete(t.Context(), "i-0abc")
			wantCode(t, err, tt.want)
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].Action() != "TerminateInstances" || !slices.Equal(reqs[0].list("InstanceId"), []string{"i-0abc"}) {
				t.Errorf("requests = %+v, want one TerminateInstances of i-0abc", reqs)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		answer fakeapi.Answer
		want   string
		// tries is how many requests the SDK makes: 3 where it retries
		// (MaxRetries 2), 1 where it does not.
		tries int
	}{
		{name: "throttled persists", answer: ec2Error(http.StatusServiceUnavailable, "RequestLimitExceeded"), want: arena.EUNAVAILABLE, tries: 3},
		{name: "throttling persists", answer: ec2Error(http.StatusBadRequest, "Throttling"), want: arena.EUNAVAILABLE, tries: 3},
		{name: "no capacity", answer: ec2Error(http.StatusInternalServerError, "InsufficientInstanceCapacity"), want: arena.EUNAVAILABLE, tries: 3},
		{name: "instance limit", answer: ec2Error(http.StatusBadRequest, "InstanceLimitExceeded"), want: arena.EUNAVAILABLE, tries: 1},
		{name: "internal error persists", answer: ec2Error(http.StatusInternalServerError, "InternalError"), want: arena.EUNAVAILABLE, tries: 3},
		{name: "5xx of an unknown code", answer: ec2Error(http.StatusBadGateway, "SomethingNew"), want: arena.EUNAVAILABLE, tries: 3},
		{name: "auth failure", answer: ec2Error(http.StatusUnauthorized, "AuthFailure"), want: arena.EUNAUTHORIZED, tries: 1},
		{name: "unauthorized operation", answer: ec2Error(http.StatusForbidden, "UnauthorizedOperation"), want: arena.EUNAUTHORIZED, tries: 1},
		{name: "invalid parameter", answer: ec2Error(http.StatusBadRequest, "InvalidParameterValue"), want: arena.EINVALID, tries: 1},
		{name: "unknown AMI", answer: ec2Error(http.StatusBadRequest, "InvalidAMIID.NotFound"), want: arena.EINVALID, tries: 1},
		{name: "4xx of an unknown code", answer: ec2Error(http.StatusBadRequest, "SomethingNew"), want: arena.EINVALID, tries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, always(tt.answer))
			_, err := newProvider(t, f).Create(t.Context(), testSpec())
			wantCode(t, err, tt.want)
			reqs := f.requests()
			if len(reqs) != tt.tries {
				t.Fatalf("%d requests, want %d", len(reqs), tt.tries)
			}
			for _, r := range reqs[1:] {
				if r.Form.Get("ClientToken") != reqs[0].Form.Get("ClientToken") {
					t.Errorf("a retry with another client token: %q, first %q", r.Form.Get("ClientToken"), reqs[0].Form.Get("ClientToken"))
				}
			}
		})
	}
}

func TestThrottledOnceIsRetried(t *testing.T) {
	f := newFake(t, func(n int, _ request) fakeapi.Answer {
		if n == 0 {
			return ec2Error(http.StatusServiceUnavailable, "RequestLimitExceeded")
		}
		return describeAnswer("", instance("i-1", "arena-n1", "running", "203.0.113.1", labels("n1")))
	})
	machines, err := newProvider(t, f).List(t.Context(), labels("n1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(machines) != 1 || len(f.requests()) != 2 {
		t.Errorf("%d machines after %d requests, want 1 after 2", len(machines), len(f.requests()))
	}
}

func TestDeadline(t *testing.T) {
	fakeapi.Deadline(t, func(t *testing.T, timeout time.Duration) func(context.Context) {
		f := newFake(t, always(ec2Error(http.StatusServiceUnavailable, "RequestLimitExceeded")))
		p := newProvider(t, f, func(c *Config) {
			c.Timeout, c.MaxRetries, c.RetryWait, c.RetryMaxWait = timeout, 10, time.Minute, time.Minute
		})
		return func(ctx context.Context) {
			_, err := p.Create(ctx, testSpec())
			wantCode(t, err, arena.EUNAVAILABLE)
		}
	})
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no region", cfg: Config{AccessKeyID: testKeyID, SecretAccessKey: testSecret}},
		{name: "no secret", cfg: Config{Region: "eu-central-1", AccessKeyID: testKeyID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			wantCode(t, err, arena.EINVALID)
		})
	}
}

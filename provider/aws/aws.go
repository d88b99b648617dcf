// Package aws is Arena's provider of Amazon EC2 instances in one AWS
// region: it runs them with the machine's labels as tags, finds them
// again by tag filters, and terminates them by instance id.
//
// One provider is one region, because an instance id means something only
// within its region: a scaling policy that bursts into two regions names
// two providers. A spec's Region is that region or one of its
// availability zones (eu-central-1 or eu-central-1b); anything else is
// refused rather than created where Delete and List would not look.
package aws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/provider/internal/cloud"
)

// Config is an EC2 provider's: one region of one account, by an access key.
type Config struct {
	// Name is the provider's name in the scaling policies; "aws" when empty.
	Name string
	// Region is the AWS region the provider creates, lists and terminates
	// instances in, such as eu-central-1.
	Region string
	// AccessKeyID and SecretAccessKey are the account's access key, and
	// SessionToken the token of a temporary one. They are the only
	// credentials used: no shared files, environment or instance metadata.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Endpoint is the EC2 API's base URL; the region's when empty.
	Endpoint string
	// SubnetID, when set, is the subnet instances run in, with a public
	// address each since players connect to them directly; the default
	// VPC's subnet of the zone when empty. SecurityGroupIDs are their
	// security groups; the VPC's default when empty.
	SubnetID         string
	SecurityGroupIDs []string
	// KeyName is the key pair put on every instance; optional.
	KeyName string
	// Timeout bounds a call whose context has no deadline; 30s when zero.
	Timeout time.Duration
	// MaxRetries is how often a throttled or transiently failed request is
	// retried by the SDK: 3 when zero, none when negative. RetryWait is the
	// first wait (1s when zero), doubled each retry up to RetryMaxWait (8s
	// when zero), with jitter.
	MaxRetries              int
	RetryWait, RetryMaxWait time.Duration
}

// Provider runs, lists and terminates the EC2 instances of one region.
type Provider struct {
	cfg    Config
	client *ec2.Client
}

var _ arena.Provider = (*Provider)(nil)

// New returns the provider of cfg. It makes no call: bad credentials show
// on the first one.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "aws"
	}
	var violations []arena.Violation
	if cfg.Region == "" {
		violations = append(violations, arena.Violation{Field: "region", Description: "an AWS region is required"})
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		violations = append(violations, arena.Violation{Field: "access_key_id", Description: "an access key id and its secret are required"})
	}
	if len(violations) > 0 {
		return nil, arena.Invalid(violations...)
	}
	retries, wait, maxWait := cloud.Retries(cfg.MaxRetries, cfg.RetryWait, cfg.RetryMaxWait)
	opts := ec2.Options{
		Region:      cfg.Region,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken),
		AppID:       "arena",
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = retries + 1
			o.MaxBackoff = maxWait
			o.Backoff = backoff{first: wait, max: maxWait}
		}),
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	return &Provider{cfg: cfg, client: ec2.New(opts)}, nil
}

// backoff doubles the wait from first up to max, with jitter so that
// retries of many calls at once spread out. The SDK's own waits at least
// a second after throttling, too long where the scaler would rather try
// the next provider.
type backoff struct{ first, max time.Duration }

// BackoffDelay returns the wait after the attempt-th (from 1) failed.
func (b backoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := b.max
	if shift := attempt - 1; shift < 30 {
		d = min(b.first<<max(shift, 0), b.max)
	}
	return d/2 + rand.N(d/2+1), nil
}

// Name is the provider's name in the scaling policies.
func (p *Provider) Name() string { return p.cfg.Name }

// Create runs one instance of spec and returns it, pending. The SDK sends
// a client token with the request, so that its retries cannot start a
// second instance.
func (p *Provider) Create(ctx context.Context, spec arena.MachineSpec) (arena.Machine, error) {
	const doing = "creating the machine"
	zone, err := p.zone(spec.Region)
	if err != nil {
		return arena.Machine{}, err
	}
	tags := []types.Tag{{Key: aws.String("Name"), Value: aws.String(spec.Name)}}
	for _, k := range sortedKeys(spec.Labels) {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(spec.Labels[k])})
	}
	in := &ec2.RunInstancesInput{
		MinCount:          aws.Int32(1),
		MaxCount:          aws.Int32(1),
		ImageId:           aws.String(spec.Image),
		InstanceType:      types.InstanceType(spec.InstanceType),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}},
	}
	if spec.UserData != "" {
		in.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte(spec.UserData)))
	}
	if zone != "" {
		in.Placement = &types.Placement{AvailabilityZone: aws.String(zone)}
	}
	if p.cfg.KeyName != "" {
		in.KeyName = aws.String(p.cfg.KeyName)
	}
	if p.cfg.SubnetID != "" {
		// A subnet of the account's own gives no public address unless
		// asked, and asking is only possible on the network interface.
		in.NetworkInterfaces = []types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex:              aws.Int32(0),
			SubnetId:                 aws.String(p.cfg.SubnetID),
			Groups:                   p.cfg.SecurityGroupIDs,
			AssociatePublicIpAddress: aws.Bool(true),
			DeleteOnTermination:      aws.Bool(true),
		}}
	} else if len(p.cfg.SecurityGroupIDs) > 0 {
		in.SecurityGroupIds = p.cfg.SecurityGroupIDs
	}
	ctx, cancel := cloud.Context(ctx, p.cfg.Timeout)
	defer cancel()
	out, err := p.client.RunInstances(ctx, in)
	if err != nil {
		return arena.Machine{}, p.fail(doing, err, arena.EINVALID)
	}
	if len(out.Instances) != 1 {
		return arena.Machine{}, arena.Internal(fmt.Errorf("%d instances in the answer", len(out.Instances)), "running an EC2 instance")
	}
	return machine(out.Instances[0]), nil
}

// zone returns the availability zone of a spec's region: empty for the
// provider's region itself, where EC2 picks the zone.
func (p *Provider) zone(region string) (string, error) {
	if region == "" || region == p.cfg.Region {
		return "", nil
	}
	if rest, ok := strings.CutPrefix(region, p.cfg.Region); ok && zoneSuffix(rest) {
		return region, nil
	}
	return "", cloud.Fail(arena.EINVALID, p.cfg.Name, "creating the machine",
		fmt.Sprintf("region %q is not %s or one of its zones", region, p.cfg.Region), nil)
}

// zoneSuffix reports whether s follows a region's name in one of its
// zones: a letter (eu-central-1a) or a local zone (us-west-2-lax-1a).
func zoneSuffix(s string) bool {
	if len(s) == 1 {
		return s[0] >= 'a' && s[0] <= 'z'
	}
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	for _, c := range s[1:] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// live are the instance states of machines that exist or are about to:
// terminated and shutting-down ones are gone for Arena.
var live = []string{"pending", "running", "stopping", "stopped"}

// List returns the region's live instances that carry all of labels as
// tags.
func (p *Provider) List(ctx context.Context, labels map[string]string) ([]arena.Machine, error) {
	filters := []types.Filter{{Name: aws.String("instance-state-name"), Values: live}}
	for _, k := range sortedKeys(labels) {
		filters = append(filters, types.Filter{Name: aws.String("tag:" + k), Values: []string{labels[k]}})
	}
	ctx, cancel := cloud.Context(ctx, p.cfg.Timeout)
	defer cancel()
	pages := ec2.NewDescribeInstancesPaginator(p.client, &ec2.DescribeInstancesInput{Filters: filters})
	machines := []arena.Machine{}
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, p.fail("listing the machines", err, arena.EINVALID)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				machines = append(machines, machine(in))
			}
		}
	}
	return machines, nil
}

// Delete terminates the instance with id: ENOTFOUND when there is none,
// or it was terminated already.
func (p *Provider) Delete(ctx context.Context, id string) error {
	const doing = "deleting the machine"
	if id == "" {
		return cloud.Fail(arena.EINVALID, p.cfg.Name, doing, "no instance id", nil)
	}
	ctx, cancel := cloud.Context(ctx, p.cfg.Timeout)
	defer cancel()
	out, err := p.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return p.fail(doing, err, arena.ENOTFOUND)
	}
	// EC2 accepts terminating an instance that is gone and still shown
	// for a while: it did not exist any more for Arena.
	for _, c := range out.TerminatingInstances {
		if aws.ToString(c.InstanceId) == id && c.PreviousState != nil && c.PreviousState.Name == types.InstanceStateNameTerminated {
			return cloud.Fail(arena.ENOTFOUND, p.cfg.Name, doing, "no such machine", nil)
		}
	}
	return nil
}

func machine(in types.Instance) arena.Machine {
	m := arena.Machine{
		ID:        aws.ToString(in.InstanceId),
		PublicIP:  aws.ToString(in.PublicIpAddress),
		CreatedAt: aws.ToTime(in.LaunchTime),
		Labels:    map[string]string{},
	}
	if in.State != nil {
		m.Status = string(in.State.Name)
	}
	for _, t := range in.Tags {
		k, v := aws.ToString(t.Key), aws.ToString(t.Value)
		switch {
		case k == "Name":
			m.Name = v
		case strings.HasPrefix(k, "aws:"):
			// AWS's own tags, not labels of Arena's.
		default:
			m.Labels[k] = v
		}
	}
	return m
}

// fail classifies err by the API's error code, by the HTTP status when
// the code is unknown, or as a failure to reach the API. missing is the
// code of an unknown instance id (see cloud.Status).
func (p *Provider) fail(doing string, err error, missing string) *arena.Error {
	code, reason := classify(err, missing)
	return cloud.Fail(code, p.cfg.Name, doing, reason, err, p.cfg.SecretAccessKey, p.cfg.SessionToken, p.cfg.AccessKeyID)
}

// Error codes of EC2's (see its API reference, "Error codes").
var (
	throttled   = codes("RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled", "RequestThrottledException", "EC2ThrottledException", "TooManyRequestsException")
	noCapacity  = codes("InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity", "InsufficientCapacity", "InsufficientFreeAddressesInSubnet", "InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded", "AddressLimitExceeded")
	failing     = codes("InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable", "RequestTimeout", "RequestTimeoutException", "IncorrectInstanceState", "IncorrectState")
	refusedAuth = codes("AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch", "MissingAuthenticationToken", "OptInRequired", "Blocked", "PendingVerification", "RequestExpired")
	notFound    = codes("InvalidInstanceID.NotFound")
)

func codes(cs ...string) map[string]bool {
	m := make(map[string]bool, len(cs))
	for _, c := range cs {
		m[c] = true
	}
	return m
}

func classify(err error, missing string) (code, reason string) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		c := apiErr.ErrorCode()
		switch {
		case throttled[c]:
			return arena.EUNAVAILABLE, "throttled by EC2 (" + c + ")"
		case noCapacity[c]:
			return arena.EUNAVAILABLE, "EC2 has no capacity for it now (" + c + ")"
		case failing[c]:
			return arena.EUNAVAILABLE, "EC2 failed, which may pass (" + c + ")"
		case refusedAuth[c]:
			return arena.EUNAUTHORIZED, "EC2 refused the credentials (" + c + ")"
		case notFound[c]:
			if missing == arena.ENOTFOUND {
				return arena.ENOTFOUND, "no such machine"
			}
			return missing, "EC2 does not know the instance (" + c + ")"
		case strings.HasPrefix(c, "Invalid"), strings.HasPrefix(c, "Missing"), strings.HasPrefix(c, "Unsupported"),
			c == "UnknownParameter", c == "DryRunOperation":
			// InvalidParameterValue, InvalidAMIID.NotFound, MissingParameter...
			return arena.EINVALID, "EC2 refused the request (" + c + ")"
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 400 {
		return cloud.Status(respErr.HTTPStatusCode(), missing)
	}
	if code, reason, ok := cloud.Transport(err); ok {
		return code, reason
	}
	var canceled *aws.RequestCanceledError
	if errors.As(err, &canceled) {
		return arena.EUNAVAILABLE, "the call was cancelled"
	}
	return arena.EINTERNAL, "unexpected failure of the EC2 API"
}

func sortedKeys(m map[string]string) []string {
	// Sorted so that the same labels make the same request.
	return slices.Sorted(maps.Keys(m))
}

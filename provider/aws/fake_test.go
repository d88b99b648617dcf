package aws

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/arena-hq/arena/provider/internal/fakeapi"
)

// The fake speaks EC2's Query protocol: form-encoded POSTs naming their
// Action, answered with XML in EC2's namespace, errors in a <Response>
// with <Errors>.

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// request is a Query request the fake received, its form parsed.
type request struct {
	fakeapi.Request
	Form url.Values
}

// query reads r as a Query request: a POST of a form.
func query(r fakeapi.Request) (request, error) {
	form, err := url.ParseQuery(string(r.Body))
	if err == nil && (r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded") {
		err = errors.New("not a form POST")
	}
	return request{r, form}, err
}

// Action is the EC2 action the request calls.
func (r request) Action() string { return r.Form.Get("Action") }

// list returns the values of a flattened list, prefix.1, prefix.2, ...
func (r request) list(prefix string) []string {
	var vs []string
	for i := 1; r.Form.Has(prefix + "." + strconv.Itoa(i)); i++ {
		vs = append(vs, r.Form.Get(prefix+"."+strconv.Itoa(i)))
	}
	return vs
}

// tags returns the tags of prefix.Tag.1.Key, prefix.Tag.1.Value, ...
func (r request) tags(prefix string) map[string]string {
	tags := map[string]string{}
	for i := 1; ; i++ {
		k := prefix + ".Tag." + strconv.Itoa(i)
		if !r.Form.Has(k + ".Key") {
			return tags
		}
		tags[r.Form.Get(k+".Key")] = r.Form.Get(k + ".Value")
	}
}

// filters returns the request's filters, Filter.N.Name to its values.
func (r request) filters() map[string][]string {
	fs := map[string][]string{}
	for i := 1; ; i++ {
		k := "Filter." + strconv.Itoa(i)
		if !r.Form.Has(k + ".Name") {
			return fs
		}
		fs[r.Form.Get(k+".Name")] = r.list(k + ".Value")
	}
}

// fake is fakeapi's fake API speaking EC2's Query protocol. It is fakeapi's
// behind a type of its own so that its requests come with their forms.
type fake struct {
	srv *fakeapi.Server
}

// newFake starts a fake EC2 API that answers the n-th request (from 0)
// with answer(n, request). A request that is no Query request fails the
// test: the SDK sends none, and the answer it would get could pass for
// one of EC2's errors.
func newFake(tb testing.TB, answer func(n int, r request) fakeapi.Answer) *fake {
	tb.Helper()
	return &fake{srv: fakeapi.New(tb, func(n int, r fakeapi.Request) fakeapi.Answer {
		q, err := query(r)
		if err != nil {
			tb.Errorf("request %d, %s %s: %v", n, r.Method, r.Path, err)
			return fakeapi.Answer{Status: http.StatusBadRequest, Body: "not a Query request"}
		}
		return answer(n, q)
	})}
}

// requests returns what the fake received so far. Any that was no Query
// request has failed the test already, and shows with what of its form
// parsed.
func (f *fake) requests() []request {
	var qs []request
	for _, r := range f.srv.Requests() {
		q, _ := query(r)
		qs = append(qs, q)
	}
	return qs
}

// always answers every request with a: fakeapi.Always of the fake's
// requests.
func always(a fakeapi.Answer) func(int, request) fakeapi.Answer {
	return func(int, request) fakeapi.Answer { return a }
}

// xmlAnswer is the answer of status with body in XML, as EC2 sends it.
func xmlAnswer(status int, body any) fakeapi.Answer {
	out, err := xml.Marshal(body)
	if err != nil {
		// The answers are of this file's types, which marshal: this is a
		// bug of the test, not of the driver.
		panic(err)
	}
	return fakeapi.Answer{Status: status, Body: xml.Header + string(out),
		Header: http.Header{"Content-Type": {"text/xml;charset=UTF-8"}}}
}

type xmlState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type xmlInstance struct {
	InstanceID   string   `xml:"instanceId"`
	ImageID      string   `xml:"imageId"`
	State        xmlState `xml:"instanceState"`
	InstanceType string   `xml:"instanceType"`
	LaunchTime   string   `xml:"launchTime"`
	IPAddress    string   `xml:"ipAddress,omitempty"`
	Tags         []xmlTag `xml:"tagSet>item"`
}

type xmlReservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

type runInstancesResponse struct {
	XMLName   xml.Name `xml:"RunInstancesResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	xmlReservation
}

type describeInstancesResponse struct {
	XMLName      xml.Name         `xml:"DescribeInstancesResponse"`
	Xmlns        string           `xml:"xmlns,attr"`
	RequestID    string           `xml:"requestId"`
	Reservations []xmlReservation `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

type xmlStateChange struct {
	InstanceID    string   `xml:"instanceId"`
	CurrentState  xmlState `xml:"currentState"`
	PreviousState xmlState `xml:"previousState"`
}

type terminateInstancesResponse struct {
	XMLName   xml.Name         `xml:"TerminateInstancesResponse"`
	Xmlns     string           `xml:"xmlns,attr"`
	RequestID string           `xml:"requestId"`
	Instances []xmlStateChange `xml:"instancesSet>item"`
}

type xmlError struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type errorResponse struct {
	XMLName   xml.Name   `xml:"Response"`
	Errors    []xmlError `xml:"Errors>Error"`
	RequestID string     `xml:"RequestID"`
}

// ec2Error is EC2's error answer of code.
func ec2Error(status int, code string) fakeapi.Answer {
	return xmlAnswer(status, errorResponse{Errors: []xmlError{{Code: code, Message: "fake " + code}}, RequestID: "req-err"})
}

// stateCodes are EC2's codes of instance states.
var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

// instance is EC2's description of an instance tagged with name and labels.
func instance(id, name, state, ip string, labels map[string]string) xmlInstance {
	in := xmlInstance{InstanceID: id, ImageID: "ami-0123456789abcdef0", State: xmlState{stateCodes[state], state}, InstanceType: "t3.small",
		LaunchTime: "2026-01-02T03:04:05.000Z", IPAddress: ip, Tags: []xmlTag{{"Name", name}}}
	for _, k := range sortedKeys(labels) {
		in.Tags = append(in.Tags, xmlTag{k, labels[k]})
	}
	return in
}

func runAnswer(in xmlInstance) fakeapi.Answer {
	return xmlAnswer(http.StatusOK, runInstancesResponse{Xmlns: ec2Namespace, RequestID: "req-run",
		xmlReservation: xmlReservation{ReservationID: "r-1", OwnerID: "123456789012", Instances: []xmlInstance{in}}})
}

func describeAnswer(next string, instances ...xmlInstance) fakeapi.Answer {
	return xmlAnswer(http.StatusOK, describeInstancesResponse{Xmlns: ec2Namespace, RequestID: "req-describe", NextToken: next,
		Reservations: []xmlReservation{{ReservationID: "r-" + next, OwnerID: "123456789012", Instances: instances}}})
}

func terminateAnswer(id, previous string) fakeapi.Answer {
	return xmlAnswer(http.StatusOK, terminateInstancesResponse{Xmlns: ec2Namespace, RequestID: "req-terminate",
		Instances: []xmlStateChange{{InstanceID: id, CurrentState: xmlState{32, "shutting-down"}, PreviousState: xmlState{stateCodes[previous], previous}}}})
}

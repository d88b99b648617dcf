package aws

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// The fake speaks EC2's Query protocol: form-encoded POSTs naming their
// Action, answered with XML in EC2's namespace, errors in a <Response>
// with <Errors>.

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// request is what the fake API received.
type request struct {
	Method, Path string
	Header       http.Header
	Form         url.Values
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

// answer is the fake's answer: body is marshalled as XML.
type answer struct {
	status int
	body   any
}

// fake is an EC2 API on loopback that records every request and answers
// the n-th (from 0) with answer(n, request).
type fake struct {
	srv    *httptest.Server
	answer func(n int, r request) answer

	mu   sync.Mutex
	reqs []request
}

func newFake(tb testing.TB, answerFn func(n int, r request) answer) *fake {
	tb.Helper()
	f := &fake{answer: answerFn}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.srv.Close)
	return f
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "not a Query request", http.StatusBadRequest)
		return
	}
	req := request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Form: form}
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()

	a := f.answer(n, req)
	out, err := xml.Marshal(a.body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(out)
}

// requests returns what the fake received so far.
func (f *fake) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// always answers every request with a.
func always(a answer) func(int, request) answer {
	return func(int, request) answer { return a }
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
func ec2Error(status int, code string) answer {
	return answer{status, errorResponse{Errors: []xmlError{{Code: code, Message: "fake " + code}}, RequestID: "req-err"}}
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

func runAnswer(in xmlInstance) answer {
	return answer{http.StatusOK, runInstancesResponse{Xmlns: ec2Namespace, RequestID: "req-run",
		xmlReservation: xmlReservation{ReservationID: "r-1", OwnerID: "123456789012", Instances: []xmlInstance{in}}}}
}

func describeAnswer(next string, instances ...xmlInstance) answer {
	return answer{http.StatusOK, describeInstancesResponse{Xmlns: ec2Namespace, RequestID: "req-describe", NextToken: next,
		Reservations: []xmlReservation{{ReservationID: "r-" + next, OwnerID: "123456789012", Instances: instances}}}}
}

func terminateAnswer(id, previous string) answer {
	return answer{http.StatusOK, terminateInstancesResponse{Xmlns: ec2Namespace, RequestID: "req-terminate",
		Instances: []xmlStateChange{{InstanceID: id, CurrentState: xmlState{32, "shutting-down"}, PreviousState: xmlState{stateCodes[previous], previous}}}}}
}

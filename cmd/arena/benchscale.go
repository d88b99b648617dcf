package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/scaler"
)

// runScaleSim replays a day of demand against simulated metal nodes and a
// simulated provider whose machines join bootDelay after their order, with
// Arena's own planner, once per buffer, and prints what each day came to.
func runScaleSim(buffers []int, bootDelay time.Duration, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "buffer\tsessions\t420s\tsessions waited\tlongest wait\tpeak cloud\tmean cloud\tcloud node-h\tstatic fleet node-h\tratio\t")
	for _, b := range buffers {
		r := scaler.Simulate(scaler.SimConfig{
			MetalNodes: 10, MetalSlots: 100, CloudSlots: 100, BootDelay: bootDelay,
			Demand: scaler.DiurnalDemand(600, 1000, 1000), SessionLength: 20 * time.Minute,
			Policy: arena.ScalingPolicy{Region: "sim", Offers: []arena.MachineOffer{{Provider: "sim", CostPerHour: 0.05}},
				Buffer: arena.ScalingBuffer{Sessions: b, Application: "game"}, MaxNodes: 40,
				ScaleUpCooldown: 2 * time.Second, ScaleDownCooldown: time.Minute, IdleTimeout: 10 * time.Minute, JoinTimeout: 10 * time.Minute},
			PlanEvery: 2 * time.Second,
		})
		if b == buffers[0] {
			fmt.Fprintf(stdout, "a simulated day: 10 metal nodes of 100 sessions, demand from %.0f sessions at night to %.0f at the evening peak,\n"+
				"sessions of 20 minutes, cloud machines of 100 sessions that join %s after their order, the plan every 2 s\n", r.LowDemand, r.PeakDemand, bootDelay)
		}
		ratio := 0.0
		if r.StaticHours > 0 {
			ratio = r.CloudHours / r.StaticHours
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%d\t%.1f\t%.0f\t%.0f\t%.0f%%\t\n", b, r.Sessions, r.Rejected, r.Waited, r.WaitedMax,
			r.PeakCloud, r.MeanCloud, r.CloudHours, r.StaticHours, 100*ratio)
	}
	return tw.Flush()
}

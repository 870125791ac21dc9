package node

import "context"

// OccupySolver gives the node's work solver a job it cannot finish and
// fills its queue behind it: a test sees the solver busy without racing a
// real solve. release ends the jobs and returns once the solver has
// dropped them all.
func (n *Node) OccupySolver() (release func()) {
	ctx, cancel := context.WithCancel(context.Background())
	jobs := make([]*workJob, workQueue+1)
	for i := range jobs {
		jobs[i] = &workJob{ctx: ctx, bits: 64, done: make(chan struct{})}
		n.work.jobs <- jobs[i]
	}
	return func() {
		cancel()
		for _, j := range jobs {
			<-j.done
		}
	}
}

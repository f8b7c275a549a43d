package client_test

import (
	"context"
	"fmt"

	"github.com/seqnode/sequencer/client"
)

// A transaction executor takes a ticket (a nonce of its account), sends
// the transaction, and closes the ticket when it is mined. A retry of any
// call is safe: the externalId names the transaction.
func ExampleClient_Append() {
	url, stop := runExampleNode()
	defer stop()
	ctx := context.Background()
	c, err := client.Dial(ctx, url)
	if err != nil {
		panic(err)
	}
	defer c.Disconnect()
	const account = "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7"
	r, _ := c.Append(ctx, client.AppendRequest{Data: []byte("signed tx"), Lineage: account, ExternalID: "job-42"})
	fmt.Println("seq", r.Seq, "nonce", r.Nonce, "existing", r.Existing)
	r, _ = c.Append(ctx, client.AppendRequest{Data: []byte("signed tx"), Lineage: account, ExternalID: "job-42"})
	fmt.Println("retry: seq", r.Seq, "nonce", r.Nonce, "existing", r.Existing)
	c.Close(ctx, account, "job-42")
	t, _ := c.Ticket(ctx, account, "job-42")
	fmt.Println("ticket", t.State)
	// Output:
	// seq 1 nonce 0 existing false
	// retry: seq 1 nonce 0 existing true
	// ticket closed
}

// Sections 线程之间的通信 and LCOK (sic) of the tutorial: 100 goroutines each
// deposit ¥1 into one account.
//
// UnsafeAccount is the first listing: no protection, so updates are lost, and
// `go run -race . bank --lock=false` names the two lines that race. Account is
// the LOCK listing: a sync.Mutex held across read, delay and write, which
// makes the deposits take turns (bank --time shows the cost).
// TellerAccount is what the tutorial lacks and Go prefers: the balance is
// confined to one goroutine, and deposits reach it over a channel.

package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// bankAccount is what AddMoneyThread needs of an account.
type bankAccount interface {
	Deposit(money int)
	Balance() int
}

// AddMoneyThread is the listings' Thread subclass: the fields are what
// __init__ stores, and Run is the overridden run().
type AddMoneyThread struct {
	account bankAccount
	money   int
}

func (t AddMoneyThread) Run() { t.account.Deposit(t.money) }

// bank is the listings' main(): one goroutine per AddMoneyThread. With
// timed, it then says how long the deposits took.
func bank(out io.Writer, account bankAccount, depositors int, timed bool) {
	start := time.Now()
	var threads sync.WaitGroup
	// 创建100个存款的线程向同一个账户中存钱
	for range depositors {
		t := AddMoneyThread{account: account, money: 1}
		threads.Add(1)
		go func() { // t.start()
			defer threads.Done()
			t.Run()
		}()
	}
	// 等所有存款的线程都执行完毕
	threads.Wait() // for t in threads: t.join()
	elapsed := time.Since(start)
	fmt.Fprintf(out, "账户余额为: ￥%d元\n", account.Balance())
	if timed {
		fmt.Fprintf(out, "deposits took %v\n", elapsed.Round(time.Millisecond))
	}
}

// UnsafeAccount is the first listing's Account: nothing guards balance.
type UnsafeAccount struct {
	balance    int           // raced on by every depositor
	processing time.Duration // the listing's sleep(0.01)
}

func (a *UnsafeAccount) Deposit(money int) {
	// 计算存款后的余额
	newBalance := a.balance + money
	// 模拟受理存款业务需要0.01秒的时间
	time.Sleep(a.processing)
	// 修改账户余额
	a.balance = newBalance
}

func (a *UnsafeAccount) Balance() int { return a.balance }

// Account is the LOCK listing's Account.
type Account struct {
	mu         sync.Mutex // guards balance
	balance    int
	processing time.Duration
}

func (a *Account) Deposit(money int) {
	// 先获取锁才能执行后续的代码
	a.mu.Lock()
	// defer is Go's try...finally: the lock is released however Deposit returns
	defer a.mu.Unlock()
	newBalance := a.balance + money
	time.Sleep(a.processing)
	a.balance = newBalance
}

func (a *Account) Balance() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.balance
}

// TellerAccount shares the balance by communicating: only the teller
// goroutine touches it, so there is nothing to lock.
type TellerAccount struct {
	deposits chan int // send an amount to deposit
	balances chan int // receive the balance
}

// NewTellerAccount starts the account's teller, which runs until ctx is done.
func NewTellerAccount(ctx context.Context, processing time.Duration) *TellerAccount {
	a := &TellerAccount{deposits: make(chan int), balances: make(chan int)}
	go a.teller(ctx, processing)
	return a
}

func (a *TellerAccount) Deposit(money int) { a.deposits <- money }

func (a *TellerAccount) Balance() int { return <-a.balances }

func (a *TellerAccount) teller(ctx context.Context, processing time.Duration) {
	balance := 0 // confined to the teller goroutine
	for {
		select {
		case money := <-a.deposits:
			time.Sleep(processing)
			balance += money
		case a.balances <- balance:
		case <-ctx.Done():
			return
		}
	}
}

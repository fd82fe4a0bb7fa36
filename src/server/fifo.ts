// An intrusive doubly linked FIFO: O(1) push, shift, and removal from the middle (cancel,
// client gone). Jobs carry their own links, so a queued job costs no extra allocation.

export interface Linked<T> {
  prev: T | null;
  next: T | null;
}

export class Fifo<T extends Linked<T>> {
  head: T | null = null;
  tail: T | null = null;
  size = 0;

  push(item: T): void {
    item.prev = this.tail;
    item.next = null;
    if (this.tail) this.tail.next = item;
    else this.head = item;
    this.tail = item;
    this.size++;
  }

  unshift(item: T): void {
    item.next = this.head;
    item.prev = null;
    if (this.head) this.head.prev = item;
    else this.tail = item;
    this.head = item;
    this.size++;
  }

  shift(): T | null {
    const item = this.head;
    if (item) this.remove(item);
    return item;
  }

  remove(item: T): void {
    if (item.prev) item.prev.next = item.next;
    else this.head = item.next;
    if (item.next) item.next.prev = item.prev;
    else this.tail = item.prev;
    item.prev = item.next = null;
    this.size--;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let n = this.head; n; n = n.next) yield n;
  }
}

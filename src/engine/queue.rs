//! A fixed-capacity FIFO whose storage is allocated once, so pushing and popping on the audio
//! thread never touches the allocator.

/// A ring buffer of at most `capacity` items, oldest first.
#[derive(Debug)]
pub(crate) struct FixedQueue<T> {
    slots: Vec<Option<T>>,
    head: usize,
    len: usize,
}

impl<T> FixedQueue<T> {
    /// Allocates room for `capacity` items (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut slots = Vec::with_capacity(capacity);
        slots.resize_with(capacity, || None);
        FixedQueue {
            slots,
            head: 0,
            len: 0,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    fn index(&self, i: usize) -> usize {
        (self.head + i) % self.slots.len()
    }

    /// Appends `item`, or hands it back when the queue is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.is_full() {
            return Err(item);
        }
        let i = self.index(self.len);
        self.slots[i] = Some(item);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the oldest item.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.slots[self.head].take();
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        item
    }

    /// Removes the oldest item for which `pred` holds, closing the gap; true when one was found.
    pub fn remove_first(&mut self, pred: impl Fn(&T) -> bool) -> bool {
        let Some(pos) =
            (0..self.len).find(|&i| self.slots[self.index(i)].as_ref().is_some_and(&pred))
        else {
            return false;
        };
        for i in pos..self.len - 1 {
            let (a, b) = (self.index(i), self.index(i + 1));
            self.slots[a] = self.slots[b].take();
        }
        let last = self.index(self.len - 1);
        self.slots[last] = None;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around_and_hands_back_when_full() {
        let mut q = FixedQueue::new(3);
        for round in 0..5 {
            assert_eq!(q.push(round * 10), Ok(()));
            assert_eq!(q.push(round * 10 + 1), Ok(()));
            assert_eq!(q.push(round * 10 + 2), Ok(()));
            assert_eq!(q.push(99), Err(99));
            assert_eq!(q.pop(), Some(round * 10));
            assert_eq!(q.pop(), Some(round * 10 + 1));
            assert_eq!(q.pop(), Some(round * 10 + 2));
            assert_eq!(q.pop(), None);
            q.push(7).unwrap();
            assert_eq!(q.pop(), Some(7));
        }
    }

    #[test]
    fn remove_first_closes_the_gap_in_order() {
        let mut q = FixedQueue::new(4);
        q.push(1).unwrap();
        q.pop();
        for v in [2, 3, 4, 5] {
            q.push(v).unwrap();
        }
        assert!(q.remove_first(|&v| v % 2 == 1));
        assert!(!q.remove_first(|&v| v > 10));
        assert_eq!(q.len(), 3);
        q.push(6).unwrap();
        let got: Vec<i32> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got, vec![2, 4, 5, 6]);
    }
}

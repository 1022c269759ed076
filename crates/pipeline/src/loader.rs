//! An order-keeping, prefetching batch loader.
//!
//! Batches come out in the order asked for, whatever the number of workers: each batch's
//! items are loaded in parallel (a worker pool of `workers` threads), then batched and moved
//! to the device on a producer thread that runs up to `prefetch` batches ahead of the
//! training step. So the next batch is decoded, augmented and transferred while the device
//! computes, and the same seed gives the same batches with 0, 2 or 16 workers (burn's
//! multi-threaded loader yields batches in the order its workers finish).

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{PipelineError, Result};

/// Batches ready ahead of the consumer when loading runs on its own thread.
pub const DEFAULT_PREFETCH: usize = 2;

/// Loads batches of a dataset in a fixed order.
pub struct BatchLoader<I, O> {
    dataset: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<I, O>>,
    batch_size: usize,
    workers: usize,
    prefetch: usize,
    device: Device,
}

impl<I: Send + 'static, O: Send + 'static> BatchLoader<I, O> {
    /// A loader of `batch_size` items (the last batch may be smaller) with `workers` loading
    /// threads; 0 loads on the consumer's thread, without prefetching.
    pub fn new(
        dataset: Arc<dyn Dataset<I>>,
        batcher: Arc<dyn Batcher<I, O>>,
        batch_size: usize,
        workers: usize,
        device: Device,
    ) -> Self {
        Self {
            dataset,
            batcher,
            batch_size: batch_size.max(1),
            workers,
            prefetch: DEFAULT_PREFETCH,
            device,
        }
    }

    /// Batches kept ready ahead of the consumer (at least 1).
    pub fn with_prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.dataset.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.dataset.is_empty()
    }

    /// Batches in dataset order.
    pub fn sequential(&self) -> Result<Batches<O>> {
        self.iter((0..self.len()).collect())
    }

    /// Batches in an order shuffled by `seed` (the same seed, the same order).
    pub fn shuffled(&self, seed: u64) -> Result<Batches<O>> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        self.iter(order)
    }

    /// Batches of the items at `order`, in that order.
    pub fn iter(&self, order: Vec<usize>) -> Result<Batches<O>> {
        let job = Job {
            dataset: self.dataset.clone(),
            batcher: self.batcher.clone(),
            batches: order.chunks(self.batch_size).map(<[usize]>::to_vec).collect(),
            device: self.device.clone(),
        };
        if self.workers == 0 {
            let mut batches = job.batches.clone().into_iter();
            let next = move || batches.next().map(|indices| job.load(&indices));
            return Ok(Batches { next: Some(Box::new(next)), producer: None });
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.workers)
            .thread_name(|i| format!("animescore-load-{i}"))
            .build()
            .map_err(|e| PipelineError::Data(format!("starting loader threads: {e}")))?;
        let (tx, rx) = sync_channel(self.prefetch);
        let producer = std::thread::Builder::new()
            .name("animescore-batches".into())
            .spawn(move || job.produce(&pool, tx))
            .map_err(|e| PipelineError::Data(format!("starting the loader thread: {e}")))?;
        Ok(Batches { next: Some(Box::new(move || rx.recv().ok())), producer: Some(producer) })
    }
}

/// What one pass over the data needs.
struct Job<I, O> {
    dataset: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<I, O>>,
    batches: Vec<Vec<usize>>,
    device: Device,
}

type Item<O> = std::result::Result<O, DatasetError>;

impl<I: Send, O> Job<I, O> {
    /// One batch on the calling thread (`workers = 0`).
    fn load(&self, indices: &[usize]) -> Item<O> {
        let items: std::result::Result<Vec<I>, DatasetError> =
            indices.iter().map(|&i| self.dataset.get(i)).collect();
        Ok(self.batcher.batch(items?, &self.device))
    }

    /// Two stages, so that the workers load batch k + 1 while batch k is assembled and
    /// moved to the device: a loading thread (driving the worker pool) and this thread.
    fn produce(self, pool: &rayon::ThreadPool, tx: SyncSender<Item<O>>)
    where
        I: Send,
    {
        let Job { dataset, batcher, batches, device } = self;
        let (items_tx, items_rx) = sync_channel::<std::result::Result<Vec<I>, DatasetError>>(1);
        std::thread::scope(|scope| {
            // `move`: the sender must drop when loading ends, or the loop below waits forever.
            scope.spawn(move || {
                for indices in &batches {
                    let items =
                        pool.install(|| indices.par_iter().map(|&i| dataset.get(i)).collect());
                    // A closed channel: the consumer stopped early.
                    if items_tx.send(items).is_err() {
                        return;
                    }
                }
            });
            for items in items_rx {
                if tx.send(items.map(|items| batcher.batch(items, &device))).is_err() {
                    break;
                }
            }
        });
    }
}

/// The batches of one pass, in order. Dropping it early stops the producer.
pub struct Batches<O> {
    next: Option<Box<dyn FnMut() -> Option<Item<O>>>>,
    producer: Option<JoinHandle<()>>,
}

impl<O> Iterator for Batches<O> {
    type Item = Result<O>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = (self.next.as_mut()?)()?;
        Some(item.map_err(|e| PipelineError::Data(e.to_string())))
    }
}

impl<O> Drop for Batches<O> {
    fn drop(&mut self) {
        // Closing the channel first lets a producer blocked on a full channel finish.
        self.next = None;
        if let Some(producer) = self.producer.take() {
            let _ = producer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::data::dataset::InMemDataset;

    struct Collect;
    impl Batcher<usize, Vec<usize>> for Collect {
        fn batch(&self, items: Vec<usize>, _device: &Device) -> Vec<usize> {
            items
        }
    }

    fn loader(workers: usize) -> BatchLoader<usize, Vec<usize>> {
        let data: Vec<usize> = (0..103).collect();
        BatchLoader::new(
            Arc::new(InMemDataset::new(data)),
            Arc::new(Collect),
            10,
            workers,
            Device::flex(),
        )
    }

    #[test]
    fn same_order_with_any_number_of_workers() {
        let reference: Vec<Vec<usize>> =
            loader(0).shuffled(7).unwrap().map(Result::unwrap).collect();
        assert_eq!(reference.len(), 11);
        assert_eq!(reference.last().unwrap().len(), 3);
        let mut all: Vec<usize> = reference.concat();
        all.sort_unstable();
        assert_eq!(all, (0..103).collect::<Vec<_>>(), "every item once");
        for workers in [1, 2, 5] {
            let got: Vec<Vec<usize>> =
                loader(workers).shuffled(7).unwrap().map(Result::unwrap).collect();
            assert_eq!(got, reference, "{workers} workers");
        }
        let other: Vec<Vec<usize>> = loader(2).shuffled(8).unwrap().map(Result::unwrap).collect();
        assert_ne!(other, reference, "another seed, another order");
        let seq: Vec<usize> = loader(3).sequential().unwrap().flat_map(Result::unwrap).collect();
        assert_eq!(seq, (0..103).collect::<Vec<_>>());
    }

    #[test]
    fn stopping_early_does_not_hang() {
        let mut batches = loader(2).with_prefetch(1).sequential().unwrap();
        assert_eq!(batches.next().unwrap().unwrap(), (0..10).collect::<Vec<_>>());
        drop(batches);
    }
}

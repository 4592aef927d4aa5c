//! Delay (simple version; replaced shortly).
use super::flush_denormal;
/// Delay.
#[derive(Clone, Debug)]
pub struct Delay { sr: f32, buf: Vec<f32>, pos: usize, time: usize, fb: f32 }
impl Delay {
    /// New.
    pub fn new(sample_rate: f32, max_time_s: f32) -> Self { Self { sr: sample_rate, buf: vec![0.0; (sample_rate * max_time_s) as usize + 4], pos: 0, time: 1, fb: 0.0 } }
    /// Set.
    pub fn set(&mut self, time_s: f32, feedback: f32, _lowcut_hz: f32, _highcut_hz: f32) { self.time = ((time_s * self.sr) as usize).clamp(1, self.buf.len() - 1); self.fb = feedback.clamp(0.0, 0.95); }
    /// Tick.
    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 { let n = self.buf.len(); let y = self.buf[(self.pos + n - self.time) % n]; self.buf[self.pos] = flush_denormal(x + y * self.fb); self.pos = (self.pos + 1) % n; y }
    /// Reset.
    pub fn reset(&mut self) { self.buf.iter_mut().for_each(|v| *v = 0.0); self.pos = 0; }
    /// Block.
    pub fn process(&mut self, buf: &mut [f32]) { for x in buf { *x = self.tick(*x); } }
}

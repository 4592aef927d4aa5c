//! Limiter (simple version; replaced shortly).
/// Limiter.
#[derive(Clone, Debug)]
pub struct Limiter { gain: f32 }
impl Limiter {
    /// New.
    pub fn new(_sample_rate: f32) -> Self { Self { gain: 1.0 } }
    /// Tick.
    #[inline]
    pub fn tick(&mut self, l: f32, r: f32) -> (f32, f32) { let l = if l.is_finite() { l } else { 0.0 }; let r = if r.is_finite() { r } else { 0.0 }; (l.clamp(-1.0, 1.0), r.clamp(-1.0, 1.0)) }
    /// GR.
    pub fn gain_reduction_db(&self) -> f32 { -20.0 * self.gain.log10() }
    /// Reset.
    pub fn reset(&mut self) { self.gain = 1.0; }
    /// Block.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) { for (l, r) in left.iter_mut().zip(right.iter_mut()) { let (a, b) = self.tick(*l, *r); *l = a; *r = b; } }
}

//! Faults chosen per call, and the record of every call that reached the layer.

/// What the layer does to a matching call instead of (or after) forwarding it to moto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 400 ThrottlingException (Throttling for Query, RequestLimitExceeded for EC2): the SDK retries it.
    Throttle,
    /// 500 InternalFailure: the SDK retries it.
    ServerError,
    /// Forwarded to moto (the change happens), then the connection is dropped without an answer.
    LostResponse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// As IAM names it: `ecs:UpdateService`.
    pub action: String,
    /// A substring the request body must contain (a test's unique name); "" matches every call.
    pub matching: String,
    pub kind: FaultKind,
    /// Applies to the next `times` matching calls.
    pub times: u32,
}

#[derive(Debug, Default)]
pub struct Faults {
    pending: Vec<Fault>,
    /// (action, body text) of every call, in arrival order.
    seen: Vec<(String, String)>,
}

impl Faults {
    pub fn inject(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.pending.push(fault);
        }
    }

    /// Records a call and returns the fault it meets, if any (the earliest injected one that
    /// matches; each use counts down its `times`).
    pub fn on_call(&mut self, action: &str, text: &str) -> Option<FaultKind> {
        self.seen.push((action.to_string(), text.to_string()));
        let at = self
            .pending
            .iter()
            .position(|f| f.action == action && text.contains(&f.matching))?;
        let fault = &mut self.pending[at];
        let kind = fault.kind;
        fault.times -= 1;
        if fault.times == 0 {
            self.pending.remove(at);
        }
        Some(kind)
    }

    pub fn calls(&self, action: &str, matching: &str) -> usize {
        self.seen
            .iter()
            .filter(|(a, t)| a == action && t.contains(matching))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fault(action: &str, matching: &str, kind: FaultKind, times: u32) -> Fault {
        Fault {
            action: action.into(),
            matching: matching.into(),
            kind,
            times,
        }
    }

    #[test]
    fn a_fault_applies_to_exactly_the_next_matching_calls() {
        let mut f = Faults::default();
        f.inject(fault("ecs:UpdateService", "web-1", FaultKind::Throttle, 2));
        assert_eq!(f.on_call("ecs:UpdateService", "web-2"), None);
        assert_eq!(f.on_call("ecs:CreateService", "web-1"), None);
        assert_eq!(
            f.on_call("ecs:UpdateService", "x web-1 y"),
            Some(FaultKind::Throttle)
        );
        assert_eq!(
            f.on_call("ecs:UpdateService", "web-1"),
            Some(FaultKind::Throttle)
        );
        assert_eq!(f.on_call("ecs:UpdateService", "web-1"), None);
        assert_eq!(f.calls("ecs:UpdateService", "web-1"), 3);
        assert_eq!(f.calls("ecs:UpdateService", ""), 4);
    }

    #[test]
    fn faults_apply_in_the_order_they_were_injected() {
        let mut f = Faults::default();
        f.inject(fault("ecs:UpdateService", "", FaultKind::ServerError, 1));
        f.inject(fault("ecs:UpdateService", "", FaultKind::LostResponse, 1));
        f.inject(fault("ecs:UpdateService", "", FaultKind::Throttle, 0));
        assert_eq!(
            f.on_call("ecs:UpdateService", ""),
            Some(FaultKind::ServerError)
        );
        assert_eq!(
            f.on_call("ecs:UpdateService", ""),
            Some(FaultKind::LostResponse)
        );
        assert_eq!(f.on_call("ecs:UpdateService", ""), None);
    }

    proptest! {
        #[test]
        fn a_fault_fires_min_of_times_and_matching_calls(times in 0u32..6, bodies in proptest::collection::vec(any::<bool>(), 0..12)) {
            let mut f = Faults::default();
            f.inject(fault("ecr:PutImage", "needle", FaultKind::Throttle, times));
            let mut fired = 0;
            for hit in &bodies {
                let text = if *hit { "a needle b" } else { "hay" };
                fired += usize::from(f.on_call("ecr:PutImage", text).is_some());
            }
            let matching = bodies.iter().filter(|h| **h).count();
            prop_assert_eq!(fired, matching.min(times as usize));
            prop_assert_eq!(f.calls("ecr:PutImage", "needle"), matching);
        }
    }
}

//! Validity windows and renewal per permit type (SPEC §6.1).

use steward_policy::{PermitType, PermitTypeSpec, Renewal};

/// What a renewal that the rules allow still needs before it takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalApproval {
    /// Renewed at once (`read_only`).
    Automatic,
    /// One eligible approver (`standard_production`).
    OneApproval,
    /// The same quorum as the original request (`advanced_production`).
    SameQuorum,
    /// The incident commander (`emergency`).
    IncidentCommander,
}

/// A window or renewal the permit type does not allow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WindowError {
    #[error("a permit window must be a positive number of hours, got {hours}")]
    NotPositive { hours: f64 },
    #[error("{} `{kind}` permit is valid for at most {max_hours} h, {requested_hours} h requested", article(*kind))]
    TooLong {
        kind: PermitType,
        requested_hours: f64,
        max_hours: f64,
    },
    #[error("{} `{kind}` permit cannot be renewed: request a new permit", article(*kind))]
    NotRenewable { kind: PermitType },
    #[error(
        "{} `{kind}` permit may be renewed at most {max} times: request a new permit",
        article(*kind)
    )]
    TooManyRenewals { kind: PermitType, max: u32 },
    #[error(
        "{} `{kind}` permit may run at most {max_total_hours} h in total, renewing would make it {total_hours} h",
        article(*kind)
    )]
    TotalTooLong {
        kind: PermitType,
        total_hours: f64,
        max_total_hours: f64,
    },
}

/// The validity window in hours for a new permit of type `spec`: the type's default when
/// none is requested, else the request if it is positive and at most the type's maximum.
pub fn validity(spec: &PermitTypeSpec, requested_hours: Option<f64>) -> Result<f64, WindowError> {
    let Some(hours) = requested_hours else {
        return Ok(spec.validity_default_hours);
    };
    window_within_max(spec, hours)
}

/// Whether a permit of type `spec`, renewed `renewals_so_far` times and valid for
/// `total_hours_so_far` hours so far, may be extended by `extra_hours`, and if so what the
/// renewal needs.
///
/// The extension itself must be a window the type allows (positive, at most its maximum);
/// `never` and single-use types refuse; `max_renewals` and `max_total_hours` are enforced.
pub fn check_renewal(
    spec: &PermitTypeSpec,
    renewals_so_far: u32,
    total_hours_so_far: f64,
    extra_hours: f64,
) -> Result<RenewalApproval, WindowError> {
    let kind = spec.kind;
    let approval = match spec.renewal {
        Renewal::Never => return Err(WindowError::NotRenewable { kind }),
        Renewal::Auto => RenewalApproval::Automatic,
        Renewal::OneApproval => RenewalApproval::OneApproval,
        Renewal::SameQuorum => RenewalApproval::SameQuorum,
        Renewal::IncidentCommander => RenewalApproval::IncidentCommander,
    };
    if spec.single_use {
        return Err(WindowError::NotRenewable { kind });
    }
    window_within_max(spec, extra_hours)?;
    if let Some(max) = spec.max_renewals
        && renewals_so_far >= max
    {
        return Err(WindowError::TooManyRenewals { kind, max });
    }
    if let Some(max_total_hours) = spec.max_total_hours {
        let total_hours = total_hours_so_far + extra_hours;
        // A NaN total (from a corrupt input) must refuse too.
        if total_hours.is_nan() || total_hours > max_total_hours {
            return Err(WindowError::TotalTooLong {
                kind,
                total_hours,
                max_total_hours,
            });
        }
    }
    Ok(approval)
}

/// "a" or "an" before a permit type's name, so messages read as sentences.
fn article(kind: PermitType) -> &'static str {
    match kind {
        PermitType::AdvancedProduction | PermitType::Emergency => "an",
        PermitType::ReadOnly
        | PermitType::StandardProduction
        | PermitType::MasterProduction
        | PermitType::Destructive => "a",
    }
}

fn window_within_max(spec: &PermitTypeSpec, hours: f64) -> Result<f64, WindowError> {
    if !(hours.is_finite() && hours > 0.0) {
        return Err(WindowError::NotPositive { hours });
    }
    if hours > spec.validity_max_hours {
        return Err(WindowError::TooLong {
            kind: spec.kind,
            requested_hours: hours,
            max_hours: spec.validity_max_hours,
        });
    }
    Ok(hours)
}

#[cfg(test)]
mod tests;

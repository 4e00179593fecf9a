# Steward's scoring in Rego: the regorus peer of the risk-engine benchmark.
#
# It computes what SPEC §3.1, §3.3 and §3.4 define, from categories and signals given
# as input: the five factor points, the total, the band and risk level, the base level
# by environment (band capped at 1 for read-only work), every floor, and the required
# level = max(base, floors). Detection (SPEC §3.2) is not here: the benchmark takes the
# categories and signals Steward detected, so both engines score the same facts.
#
# Input:
#   environment       local | development | test | unknown | staging | production
#   reversibility     fully_reversible | automated_rollback | complex_rollback | irreversible
#   data_sensitivity  public | test | internal | sensitive
#   impact_scope      single_component | single_service | multi_service | system_wide | multi_region
#   customer_impact   none | internal | segment | all
#   read_only         bool
#   risky_operation   bool (schema, infrastructure, security, deletion or destructive)
#   customer_facing   bool
#   services_affected, regions   string[] (counted distinct, trimmed, case-insensitive)
#   compliance_frameworks        string[] (SOC2, HIPAA, PCI_DSS, GDPR, SOX)
#
# Output: data.steward.result = {total, risk_level, base_level, level, floors_applied}.

package steward

import rego.v1

points := {
	"environment": {
		"local": 0, "development": 1, "test": 1, "unknown": 1,
		"staging": 5, "production": 10,
	},
	"reversibility": {
		"fully_reversible": 0, "automated_rollback": 3,
		"complex_rollback": 7, "irreversible": 10,
	},
	"data_sensitivity": {"public": 0, "test": 3, "internal": 7, "sensitive": 10},
	"impact_scope": {
		"single_component": 1, "single_service": 3, "multi_service": 6,
		"system_wide": 8, "multi_region": 10,
	},
	"customer_impact": {"none": 0, "internal": 3, "segment": 7, "all": 10},
}

factor_names := ["environment", "reversibility", "data_sensitivity", "impact_scope", "customer_impact"]

total := sum([points[f][input[f]] | some f in factor_names])

bands := [
	{"min": 0, "max": 5, "level": 0, "risk_level": "very_low"},
	{"min": 6, "max": 20, "level": 2, "risk_level": "low_medium"},
	{"min": 21, "max": 35, "level": 3, "risk_level": "medium_high"},
	{"min": 36, "max": 50, "level": 4, "risk_level": "very_high"},
]

band := b if {
	some b in bands
	b.min <= total
	total <= b.max
}

production if input.environment == "production"

# Unknown is levelled like production (SPEC §3.2).
production_like if input.environment in {"production", "unknown"}

sensitive if input.data_sensitivity == "sensitive"

base_level := 0 if input.environment in {"local", "development", "test"}

base_level := 1 if input.environment == "staging"

base_level := min({band.level, 1}) if {
	production_like
	input.read_only
}

base_level := band.level if {
	production_like
	not input.read_only
}

services := count({lower(trim_space(s)) | some s in input.services_affected; trim_space(s) != ""})

regions := count({lower(trim_space(r)) | some r in input.regions; trim_space(r) != ""})

compliance_floor := {"SOC2": 2, "HIPAA": 3, "PCI_DSS": 3, "GDPR": 3, "SOX": 4}

floors contains {"rule": "production_write", "level": 2} if {
	production
	not input.read_only
}

floors contains {"rule": "production_read_only", "level": 1} if {
	production
	input.read_only
	not sensitive
}

floors contains {"rule": "sensitive_data", "level": 3} if sensitive

floors contains {"rule": "risky_operation_production", "level": 3} if {
	input.risky_operation
	production_like
}

floors contains {"rule": "risky_operation_staging", "level": 2} if {
	input.risky_operation
	input.environment == "staging"
}

floors contains {"rule": "customer_facing_production", "level": 2} if {
	production
	input.customer_facing
}

floors contains {"rule": "multi_service_production", "level": 3} if {
	production
	services >= 3
}

# Steward also applies this floor when detection saw a system-wide component but the
# scope category is multi_region; the multi-region floor (4) then decides the level anyway.
floors contains {"rule": "system_wide_production", "level": 3} if {
	production
	input.impact_scope == "system_wide"
}

floors contains {"rule": "multi_region_production", "level": 4} if {
	production
	regions >= 2
}

floors contains {"rule": "multi_region_production", "level": 4} if {
	production
	input.impact_scope == "multi_region"
}

floors contains {"rule": "compliance", "framework": f, "level": compliance_floor[f]} if {
	some f in input.compliance_frameworks
}

level := max({f.level | some f in floors} | {base_level})

result := {
	"total": total,
	"risk_level": band.risk_level,
	"base_level": base_level,
	"level": level,
	"floors_applied": {f | some f in floors; f.level > base_level},
}

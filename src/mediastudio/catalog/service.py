"""The model catalog: which model serves a request, whether it may run, and what it costs.

Availability depends on the caller: under a sandbox key every model "runs" (the sandbox engine
serves it with placeholder media), under a live key only models whose engine can really run here.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from mediastudio.catalog.lifecycle import (
    Clock,
    deprecation_fields,
    is_retired,
    lifecycle_clock,
    retired_reason,
)
from mediastudio.engines.contract import Availability, ModelSpec, StepRequirement, StepUse
from mediastudio.engines.registry import SANDBOX_ENGINE, EngineRegistry
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import InvalidRequest, ModelNotAllowed, ModelUnavailable, NotFound
from mediastudio.kit.errors import validation_field as _field
from mediastudio.settings import Settings

SANDBOX_ONLY = Availability.missing(
    "Sandbox models make placeholder media and run only under ms_test_ keys."
)


class Catalog:
    def __init__(
        self, registry: EngineRegistry, settings: Settings, clock: Clock | None = None
    ) -> None:
        self.registry = registry
        self.settings = settings
        # What "today" is for the models' lifecycle (the settings may pin it; tests move it).
        self.clock = clock or lifecycle_clock(settings)

    def retired(self, spec: ModelSpec) -> bool:
        """Whether the model's shutdown day has come (see catalog/lifecycle.py)."""
        return is_retired(spec.deprecation, self.clock())

    def is_sandbox_model(self, spec: ModelSpec) -> bool:
        registered = self.registry.get(spec.id)
        return registered is not None and registered.engine.name == SANDBOX_ENGINE

    def availability(self, spec: ModelSpec, *, sandbox: bool) -> Availability:
        if spec.deprecation is not None and self.retired(spec):
            return Availability.missing(retired_reason(spec.id, spec.deprecation))
        if sandbox:
            return Availability.ok()
        if self.is_sandbox_model(spec):
            return SANDBOX_ONLY
        return self.registry.availability(spec.id)

    def price(self, spec: ModelSpec) -> int:
        return self.settings.price_of(spec.id, spec.credits)

    def credits_for(self, spec: ModelSpec, validated: BaseModel) -> int:
        """The model's own price for this input (its steps' prices not included)."""
        return self.price(spec) * spec.units(validated)

    def with_steps(
        self, spec: ModelSpec, validated: BaseModel, principal: Principal
    ) -> tuple[BaseModel, int]:
        """The input as the job will run it, and its full price (zero under a sandbox key).

        A composition that runs other models as steps for this input (``spec.uses``) costs
        its own price plus each step model's price for the step's input (and its
        ``extra_credits``: steps that are not catalog models, such as a chat message). Each
        step model is resolved as a request of its type would be (the one named in the input's
        field, else the catalog's default, which is written into that field), so a live key
        gets 503 ``model_unavailable`` now, naming the setting to set, rather than a failed job
        later.
        """
        price = self.credits_for(spec, validated)
        if spec.extra_credits is not None:
            price += spec.extra_credits(validated)
        updates: dict[str, str] = {}
        for use in spec.uses(validated) if spec.uses is not None else ():
            step_spec = self._step_model(spec, use, validated, principal)
            step_input = self.validate(step_spec, dict(use.input), field_prefix=f"{use.field}:")
            price += self.credits_for(step_spec, step_input)
            updates[use.field] = step_spec.id
        if updates:
            validated = validated.model_copy(update=updates)
        return validated, 0 if principal.sandbox else price

    def _step_model(
        self, spec: ModelSpec, use: StepUse, validated: BaseModel, principal: Principal
    ) -> ModelSpec:
        named = getattr(validated, use.field, None)
        try:
            return self.resolve(named, use.type, principal, payload=dict(use.input))
        except ModelUnavailable as exc:
            reason = exc.details.get("reason") if isinstance(exc.details, dict) else None
            raise ModelUnavailable(
                f"{spec.id} needs {_a(use.type)} {use.type} model for this request ({use.field}): "
                f"{exc.message}",
                details={"model": spec.id, "step": use.type, "reason": reason or exc.message},
            ) from exc
        except InvalidRequest as exc:
            # The step model the request named (a wrong id or type) is that field's error.
            raise InvalidRequest(
                f"The request has invalid fields: {use.field}",
                details={"fields": [{"field": use.field, "message": exc.message}]},
            ) from exc

    def get(self, model_id: str) -> ModelSpec:
        registered = self.registry.get(model_id)
        if registered is None:
            raise NotFound(f"No model {model_id!r}. GET /api/v1/models lists them.")
        return registered.spec

    def list(self, type_: str | None) -> list[ModelSpec]:
        return self.registry.models(type_)

    def offered(self, principal: Principal) -> Sequence[ModelSpec]:
        """The models a caller may pick (the dashboard's playground): those its plan allows,
        retired ones left out. Whether each can run in the caller's mode is
        :meth:`availability`'s answer, shown beside it rather than hiding it."""
        return [
            spec
            for spec in self.registry.models()
            if _allowed(spec, principal) and not (spec.deprecation and self.retired(spec))
        ]

    def types(self) -> tuple[str, ...]:
        return tuple(sorted({spec.type for spec in self.registry.models()}))

    def check_type(self, type_: str, *, field: str) -> str:
        """Refuse a type no model makes: a typo in a filter must not read as "no results"."""
        known = self.types()
        if type_ not in known:
            message = f"Unknown type {type_!r}; known types: {', '.join(known)}"
            raise InvalidRequest(
                f"The request has invalid fields: {field}",
                details={"fields": [{"field": field, "message": message}]},
            )
        return type_

    def resolve(
        self,
        model_id: str | None,
        type_: str | None,
        principal: Principal,
        payload: dict[str, Any] | None = None,
        validated: dict[str, BaseModel] | None = None,
    ) -> ModelSpec:
        """The model for a request, checked against the plan and, for live keys, availability.

        With no model named, the default is the first runnable model of the type that can take
        ``payload`` (a text-only video request skips an image-to-video model). Choosing it
        validates ``payload`` against candidates; pass ``validated`` to get back the inputs that
        validated, by model id, so that :meth:`validate` need not do it again.
        """
        spec = (
            self._lookup(model_id, type_)
            if model_id
            else self._default(type_, principal, payload or {}, validated)
        )
        if type_ is not None and spec.type != type_:
            raise InvalidRequest(
                f"Model {spec.id!r} makes {spec.type}, not {type_}.",
                details={"fields": [{"field": "model", "message": "wrong type"}]},
            )
        if not _allowed(spec, principal):
            raise ModelNotAllowed(
                f"Model {spec.id!r} is not available on the {principal.plan_name} plan."
            )
        availability = self.availability(spec, sandbox=principal.sandbox)
        if not availability.available:
            details: dict[str, Any] = {"model": spec.id, "reason": availability.reason}
            if spec.deprecation is not None and self.retired(spec):
                details["replacement"] = spec.deprecation.replacement
            raise ModelUnavailable(
                f"Model {spec.id!r} cannot run here: {availability.reason}", details=details
            )
        return spec

    def _lookup(self, model_id: str, type_: str | None) -> ModelSpec:
        registered = self.registry.get(model_id, type_)
        if registered is None:
            raise InvalidRequest(
                f"Unknown model {model_id!r}. GET /api/v1/models lists them.",
                details={"fields": [{"field": "model", "message": "unknown model"}]},
            )
        return registered.spec

    def default_order(self, type_: str) -> Sequence[ModelSpec]:
        """The models a request of ``type_`` that names none may get, in the order they are
        tried: the configured default alone, else the real models that can run here, the
        other real ones (for sandbox keys, which run every model), then the sandbox ones; never
        a retired one (catalog/lifecycle.py). Each
        is skipped when the request lacks one of its required fields, when the key cannot run
        it, or when the plan excludes it. The OpenAPI document publishes this order."""
        configured = self.settings.default_models.get(type_)
        if configured:
            return [self._lookup(configured, type_)]
        # A retired model is never a default: requests that name none move on by themselves.
        every = [spec for spec in self.registry.models(type_) if not self.retired(spec)]
        return sorted(every, key=lambda s: (self.is_sandbox_model(s), not self._runs_live(s)))

    def _runs_live(self, spec: ModelSpec) -> bool:
        return self.availability(spec, sandbox=False).available

    def _default(
        self,
        type_: str | None,
        principal: Principal,
        payload: dict[str, Any],
        validated: dict[str, BaseModel] | None = None,
    ) -> ModelSpec:
        if type_ is None:
            raise InvalidRequest(
                "A model is required.",
                details={"fields": [{"field": "model", "message": "required"}]},
            )
        every = self.default_order(type_)
        if self.settings.default_models.get(type_):
            return every[0]
        candidates = [s for s in every if _takes(s, payload, validated)]
        real = [spec for spec in candidates if not self.is_sandbox_model(spec)]
        runnable = [s for s in real if self.availability(s, sandbox=principal.sandbox).available]
        if principal.sandbox:
            # A sandbox key gets the model a live key would (one that really runs here) first,
            # so that switching keys does not switch models.
            runnable.sort(key=lambda spec: not self.availability(spec, sandbox=False).available)
        # Prefer a model the plan allows; if none is, the first runnable one explains the 403.
        allowed = [s for s in runnable if _allowed(s, principal)]
        if allowed or runnable:
            return (allowed or runnable)[0]
        if principal.sandbox and candidates:
            return (real or candidates)[0]
        refused = [s for s in every if not self.is_sandbox_model(s) and s not in candidates]
        needs = "; ".join(f"{s.id} needs {', '.join(_missing(s, payload))}" for s in refused)
        if not real and refused:
            raise ModelUnavailable(
                f"No engine on this server makes {type_} from this input: {needs}",
                details={"type": type_},
            )
        hint = "; ".join(f"{s.id}: {self.availability(s, sandbox=False).reason}" for s in real)
        raise ModelUnavailable(
            f"No engine can make {type_} on this server."
            + (
                f" Models that need setup: {hint}"
                if hint
                else " Install or enable an engine for it."
            )
            # Models that would take a different input are worth naming too.
            + (f" Models that take other input: {needs}" if needs else ""),
            details={"type": type_},
        )

    def validate(self, spec: ModelSpec, payload: dict[str, Any], *, field_prefix: str) -> BaseModel:
        try:
            return spec.input_model.model_validate(payload)
        except ValidationError as exc:
            fields = [_field(error) for error in exc.errors()]
            for item in fields:
                item["field"] = f"{field_prefix}{item['field']}"
            raise InvalidRequest(
                "The request has invalid fields: " + ", ".join(f["field"] for f in fields),
                details={"fields": fields},
            ) from exc

    def describe(self, spec: ModelSpec, *, sandbox: bool, with_schema: bool) -> dict[str, Any]:
        availability = self.availability(spec, sandbox=sandbox)
        entry: dict[str, Any] = {
            "id": spec.id,
            "name": spec.name,
            "type": spec.type,
            "credits_per_generation": self.price(spec),
            "pricing": {"credits": self.price(spec), "unit": spec.price_unit},
            "description": spec.description,
            "category": spec.category,
            "available": availability.available,
        }
        if spec.max_output_s is not None:
            entry["pricing"]["max_seconds"] = spec.max_output_s  # what a job reserves
        if not availability.available:
            entry["unavailable_reason"] = availability.reason
        if spec.step_requirements:
            entry["steps"] = [
                self._requirement(need, sandbox=sandbox) for need in spec.step_requirements
            ]
        if spec.deprecation is not None:
            entry["deprecation"] = deprecation_fields(spec.deprecation)
        if with_schema:
            entry["input_schema"] = spec.input_model.model_json_schema()
        return entry

    def _requirement(self, need: StepRequirement, *, sandbox: bool) -> dict[str, Any]:
        """A step only some inputs need, and whether a model for it can run for this key:
        one that a request of its type naming none would get (as :meth:`_default` picks)."""
        payload = dict(need.input)
        models = [s for s in self.default_order(need.type) if not self.is_sandbox_model(s)]
        runs = sandbox or any(
            _takes(s, payload) and self.availability(s, sandbox=False).available for s in models
        )
        entry: dict[str, Any] = {
            "type": need.type,
            "field": need.field,
            "when": need.when,
            "available": runs,
        }
        if not runs:
            entry["unavailable_reason"] = f"no {need.type} model can run here"
        return entry


def _missing(
    spec: ModelSpec, payload: dict[str, Any], validated: dict[str, BaseModel] | None = None
) -> list[str]:
    """Required fields of ``spec``'s input that ``payload`` lacks; a valid input is kept in
    ``validated``."""
    try:
        model = spec.input_model.model_validate(payload)
    except ValidationError as exc:
        return [
            ".".join(str(part) for part in error["loc"])
            for error in exc.errors()
            if error["type"] == "missing"
        ]
    if validated is not None:
        validated[spec.id] = model
    return []


def _takes(
    spec: ModelSpec, payload: dict[str, Any], validated: dict[str, BaseModel] | None = None
) -> bool:
    """Whether ``payload`` has every field ``spec`` requires. Other errors (a bad value) do not
    exclude the model: validating against it later gives the user a precise 400."""
    return not _missing(spec, payload, validated)


def _allowed(spec: ModelSpec, principal: Principal) -> bool:
    return any(fnmatch.fnmatchcase(spec.id, pattern) for pattern in principal.plan.allowed_models)


def _a(word: str) -> str:
    """The article before ``word`` in a message: "an image model", "a speech model"."""
    return "an" if word[:1].lower() in "aeiou" else "a"

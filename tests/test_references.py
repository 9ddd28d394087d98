"""References and metadata on writes: unique where they must be, given back on every read."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support import create_wallet, operation_url


async def move(
    client: httpx.AsyncClient, wallet_id: uuid.UUID, kind: str = "DEPOSIT", **labels: object
) -> httpx.Response:
    body = {"operation_type": kind, "amount": "1.00", **labels}
    return await client.post(operation_url(wallet_id), json=body)


async def test_reference_and_metadata_come_back_on_every_read(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    metadata = {"order": "A-17", "note": "first"}
    made = await move(client, wallet_id, reference="inv-1", metadata=metadata)
    assert made.status_code == 200, made.text
    assert made.json()["reference"] == "inv-1" and made.json()["metadata"] == metadata
    history = await client.get(
        f"/api/v1/wallets/{wallet_id}/operations", params={"reference": "inv-1"}
    )
    assert history.json()["items"] == [made.json()]
    assert (await move(client, wallet_id)).status_code == 200
    other = await client.get(f"/api/v1/wallets/{wallet_id}/operations", params={"reference": "x"})
    assert other.json()["items"] == []

    target = await create_wallet(client)
    labelled = await client.post(
        "/api/v1/transfers",
        json={
            "from_wallet_id": str(wallet_id),
            "to_wallet_id": str(target),
            "amount": "0.25",
            "reference": "payout-9",
            "metadata": {"batch": "7"},
        },
    )
    assert labelled.status_code == 201, labelled.text
    read = (await client.get(f"/api/v1/transfers/{labelled.json()['id']}")).json()
    assert (read["reference"], read["metadata"]) == ("payout-9", {"batch": "7"})
    legs = await client.get(
        f"/api/v1/wallets/{target}/operations", params={"reference": "payout-9"}
    )
    assert [op["operation_type"] for op in legs.json()["items"]] == ["TRANSFER_IN"]

    placed = await client.post(
        f"/api/v1/wallets/{wallet_id}/holds",
        json={"amount": "0.10", "reference": "auth-3", "metadata": {"card": "4242"}},
    )
    assert placed.status_code == 201, placed.text
    got = (await client.get(f"/api/v1/holds/{placed.json()['id']}")).json()
    assert (got["reference"], got["metadata"]) == ("auth-3", {"card": "4242"})
    captured = await client.post(f"/api/v1/holds/{got['id']}/capture", json={})
    assert captured.json()["reference"] == "auth-3"


async def test_a_reference_in_use_is_409_with_the_existing_id(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    first = (await move(client, wallet_id, reference="r-1")).json()
    again = await move(client, wallet_id, "WITHDRAW", reference="r-1")
    assert again.status_code == 409
    assert again.json()["code"] == "reference_exists"
    assert again.json()["existing_id"] == str(first["id"])
    # per wallet: another wallet may use it
    assert (await move(client, uuid.uuid4(), reference="r-1")).status_code == 200

    source = await create_wallet(client, funds="10.00")
    body = {"from_wallet_id": str(source), "to_wallet_id": str(wallet_id), "amount": "1.00"}
    reference = f"t-{uuid.uuid4()}"
    made = await client.post("/api/v1/transfers", json={**body, "reference": reference})
    other_source = await create_wallet(client, funds="10.00")
    taken = await client.post(
        "/api/v1/transfers",
        json={**body, "from_wallet_id": str(other_source), "reference": reference},
    )
    assert taken.status_code == 409 and taken.json()["existing_id"] == made.json()["id"]

    held = await client.post(
        f"/api/v1/wallets/{source}/holds", json={"amount": "1", "reference": "h"}
    )
    second = await client.post(
        f"/api/v1/wallets/{source}/holds", json={"amount": "1", "reference": "h"}
    )
    assert second.status_code == 409 and second.json()["existing_id"] == held.json()["id"]


async def test_parallel_writes_with_one_reference_land_once(client: httpx.AsyncClient) -> None:
    wallet_id = await create_wallet(client, funds="100.00")
    answers = await asyncio.gather(
        *(move(client, wallet_id, "WITHDRAW", reference="once") for _ in range(30))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 1 and statuses.count(409) == 29
    sources = [await create_wallet(client, funds="5.00") for _ in range(10)]
    reference = f"pay-{uuid.uuid4()}"
    transfers = await asyncio.gather(
        *(
            client.post(
                "/api/v1/transfers",
                json={
                    "from_wallet_id": str(s),
                    "to_wallet_id": str(wallet_id),
                    "amount": "1.00",
                    "reference": reference,
                },
            )
            for s in sources
        )
    )
    assert sorted(t.status_code for t in transfers) == [201] + [409] * 9


@pytest.mark.parametrize(
    "labels",
    [
        {"reference": ""},
        {"reference": "x" * 129},
        {"reference": "tab\tinside"},
        {"reference": 5},
        {"metadata": {f"k{n}": "v" for n in range(21)}},
        {"metadata": {"k" * 41: "v"}},
        {"metadata": {"": "v"}},
        {"metadata": {"k": "v" * 501}},
        {"metadata": {"k": 1}},
        {"metadata": {"k": {"nested": "x"}}},
        {"metadata": ["k", "v"]},
        {"metadata": "k=v"},
    ],
)
async def test_bad_labels_are_422_and_move_nothing(
    client: httpx.AsyncClient, labels: dict[str, object]
) -> None:
    wallet_id = uuid.uuid4()
    response = await move(client, wallet_id, **labels)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert (await client.get(f"/api/v1/wallets/{wallet_id}")).status_code == 404


async def test_labels_are_part_of_what_a_key_replays(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    headers = {"Idempotency-Key": f"labels-{uuid.uuid4()}"}
    body = {"operation_type": "DEPOSIT", "amount": "1.00", "reference": "k-1"}
    first = await client.post(operation_url(wallet_id), json=body, headers=headers)
    replay = await client.post(operation_url(wallet_id), json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
    changed = await client.post(
        operation_url(wallet_id), json={**body, "reference": "k-2"}, headers=headers
    )
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_key_reused"


async def test_history_refuses_a_reference_filter_no_reference_can_hold(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = await create_wallet(client)
    for reference in ("a\x00b", "new\nline", "x" * 129):
        refused = await client.get(
            f"/api/v1/wallets/{wallet_id}/operations", params={"reference": reference}
        )
        assert refused.status_code == 422, reference
        assert refused.json()["code"] == "validation_error"

"""The simulated province: its tree, its members and their habits, fixed by a seed.

Pure data: nothing here talks to a service. The same preset and seed always give the
same province, so a run can be repeated and its figures compared.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from clients.simulator.presets import Preset

SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
            "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Hà", "Lò", "Lường", "Quàng", "Cầm",
            "Vi", "Lương", "Mùa", "Giàng", "Thào")
MALE_MIDDLE = ("Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Xuân", "Tiến", "Mạnh")
FEMALE_MIDDLE = ("Thị", "Thu", "Ngọc", "Thanh", "Bích", "Diệu", "Kim", "Hồng")
MALE_GIVEN = ("An", "Bình", "Cường", "Dũng", "Đạt", "Hùng", "Hưng", "Khánh", "Long", "Nam",
              "Phúc", "Quyết", "Sơn", "Thắng", "Tuấn", "Việt", "Vinh", "Toàn", "Thành")
FEMALE_GIVEN = ("Anh", "Dung", "Giang", "Hạnh", "Hằng", "Hoa", "Huệ", "Lan", "Liên", "Mai",
                "Nga", "Nhung", "Phương", "Thảo", "Trang", "Tuyết", "Xuân", "Yến", "Ánh")
PLACES = ("Mường Thanh", "Thanh Xương", "Thanh Nưa", "Nà Tấu", "Mường Phăng", "Pá Khoang",
          "Núa Ngam", "Mường Nhà", "Na Ư", "Sam Mứn", "Noong Hẹt", "Thanh Yên", "Hua Thanh",
          "Pom Lót", "Noong Luống", "Thanh Chăn", "Thanh Hưng", "Thanh An", "Thanh Luông",
          "Mường Lói", "Tuần Giáo", "Quài Cang", "Chiềng Sinh", "Mường Ảng", "Búng Lao",
          "Xuân Lao", "Ẳng Nưa", "Tủa Chùa", "Sính Phình", "Mường Chà", "Si Pa Phìn")
VILLAGES = ("Bản Mển", "Bản Him Lam", "Bản Noong Bua", "Bản Phiêng Lơi", "Bản Co Mỵ",
            "Bản Huổi Phạ", "Bản Tà Lèng", "Bản Nà Nọi", "Bản Púng Tôm", "Bản Yên Cang",
            "Tổ dân phố 1", "Tổ dân phố 2", "Tổ dân phố 3", "Khối Tân Thanh", "Khối Đồng Tâm",
            "Trường Tiểu học", "Trường THCS", "Trạm Y tế", "Công an xã", "Quân sự xã",
            "Hợp tác xã", "Bản Pá Nậm", "Bản Xôm", "Bản Kéo", "Bản Sáng")


@dataclass
class Member:
    member_id: str
    full_name: str
    gender: str
    birth_date: date
    cell_id: str
    admitted_on: date
    full_member_on: date | None  # None: still on probation
    excused: str | None = None  # "exempt" or "away": listed, but not due to attend
    diligence: float = 0.92  # chance of attending a given meeting


@dataclass
class Unit:
    unit_id: str
    name: str
    kind: str
    parent_id: str | None


@dataclass
class Cell:
    unit_id: str
    meeting_day: int  # the cell's usual day of the month
    reliability: float  # chance of holding the month's regular meeting
    thematic_months: frozenset[int]  # months of the year (1-12) with a thematic meeting
    members: list[str] = field(default_factory=list)


@dataclass
class Province:
    units: list[Unit]
    cells: dict[str, Cell]
    members: dict[str, Member]
    start: date  # the first simulated day; the tree and roster exist from before it

    def grassroots_of(self, committee_id: str) -> list[Unit]:
        return [u for u in self.units if u.parent_id == committee_id and u.kind == "grassroots"]


def spread(total: int, buckets: int, rng: random.Random, least: int = 1) -> list[int]:
    """`total` split over `buckets`, each at least `least`, unevenly as in life."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(buckets)]
    scale = (total - least * buckets) / sum(weights)
    counts = [least + int(w * scale) for w in weights]
    for index in range(total - sum(counts)):  # hand out what rounding left over
        counts[index % buckets] += 1
    return counts


def _numbered(names: tuple[str, ...], index: int) -> str:
    """A distinct name for every index: the list's names, then numbered rounds of them."""
    name = names[index % len(names)]
    rounds = abs(index + (index < 0)) // len(names)
    return f"{name} {rounds + 1}" if rounds else name


def person(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.45:
        return (f"{rng.choice(SURNAMES)} {rng.choice(FEMALE_MIDDLE)} "
                f"{rng.choice(FEMALE_GIVEN)}", "female")
    return f"{rng.choice(SURNAMES)} {rng.choice(MALE_MIDDLE)} {rng.choice(MALE_GIVEN)}", "male"


def generate(preset: Preset, start: date, seed: int) -> Province:
    """The province of `preset`, established a year or more before `start`."""
    if preset.cells < preset.grassroots or preset.members < 3 * preset.cells:
        raise ValueError("a preset needs a cell per grassroots organisation and three "
                         "members per cell")
    rng = random.Random(seed)
    founded = date(start.year - 2, 1, 1)
    units = [Unit("tinh", "Đảng bộ tỉnh Mô Phỏng", "province", None)]
    for c in range(preset.committees):
        units.append(Unit(f"h{c + 1:02d}", f"Đảng bộ huyện {_numbered(PLACES, -1 - c)}",
                          "committee", "tinh"))
    committees = units[1:]
    cells_per_org = spread(preset.cells, preset.grassroots, rng)
    cells: dict[str, Cell] = {}
    for g in range(preset.grassroots):
        committee = committees[g % len(committees)]
        org_id = f"{committee.unit_id}-x{g // len(committees) + 1:02d}"
        units.append(Unit(org_id, f"Đảng bộ xã {_numbered(PLACES, g)}", "grassroots",
                          committee.unit_id))
        for k in range(cells_per_org[g]):
            cell_id = f"{org_id}-cb{k + 1:02d}"
            units.append(Unit(cell_id, f"Chi bộ {VILLAGES[(g + k) % len(VILLAGES)]}",
                              "cell", org_id))
            chronic = rng.random() < 0.02  # a few cells chronically miss
            cells[cell_id] = Cell(
                cell_id, meeting_day=rng.randint(3, 22),
                reliability=rng.uniform(0.35, 0.6) if chronic else rng.uniform(0.95, 1.0),
                thematic_months=frozenset(rng.sample(range(1, 13), rng.randint(2, 4))))

    members: dict[str, Member] = {}
    cell_ids = list(cells)
    for cell_id, count in zip(cell_ids, spread(preset.members, len(cell_ids), rng, least=3),
                              strict=True):
        for _ in range(count):
            member_id = f"DV{len(members) + 1:07d}"
            full_name, gender = person(rng)
            age = rng.randint(22, 80)
            birth = date(start.year - age, rng.randint(1, 12), rng.randint(1, 28))
            admitted = min(founded - timedelta(days=1),
                           date(birth.year + rng.randint(20, max(20, min(age - 1, 50))),
                                rng.randint(1, 12), rng.randint(1, 28)))
            probation = rng.random() < 0.05
            if probation:  # admitted within the last year, not yet a full member
                admitted = start - timedelta(days=rng.randint(30, 300))
            excused = None
            if age >= 70 and rng.random() < 0.4:
                excused = "exempt"  # miễn sinh hoạt: old age, ill health
            elif rng.random() < 0.03:
                excused = "away"  # đi làm ăn xa
            members[member_id] = Member(
                member_id, full_name, gender, birth, cell_id, admitted,
                None if probation else admitted + timedelta(days=365), excused,
                diligence=rng.uniform(0.7, 0.9) if rng.random() < 0.1 else rng.uniform(0.9, 1.0))
            cells[cell_id].members.append(member_id)
    return Province(units, cells, members, start)

package integration

// Unified models: the shapes a host app handles the same way whichever
// platform a record came from. The content models (post, page, category,
// tag, media) use Record's own content fields; every other model keeps
// all of its own fields in Record.Fields, and its JSON sits beside the
// common fields (external_id, raw_ref, model, created_at, modified_at,
// deleted, changed_at, url). A field a platform lacks is left empty and
// is absent from the JSON, never invented.

// Model names of the unified models beyond the content ones.
const (
	ModelProduct       = "product"
	ModelCalendarEvent = "calendar_event"
	ModelTask          = "task"
	ModelConversation  = "conversation"
	ModelMessage       = "message"
)

// ContentModels are the models that use Record's content fields.
var ContentModels = []string{"post", "page", "category", "tag", "media"}

// Fields is a unified model's own fields: *Product, *CalendarEvent,
// *Task, *Conversation or *ChatMessage.
type Fields interface {
	// UnifiedModel is the model name the fields belong to.
	UnifiedModel() string
}

// NewFields is an empty value of model's fields (nil: a content model or
// an unknown name), to decode a stored record into.
func NewFields(model string) Fields {
	switch model {
	case ModelProduct:
		return &Product{}
	case ModelCalendarEvent:
		return &CalendarEvent{}
	case ModelTask:
		return &Task{}
	case ModelConversation:
		return &Conversation{}
	case ModelMessage:
		return &ChatMessage{}
	}
	return nil
}

// Product is an item a shop sells. Prices are decimal strings in the
// shop's currency, as the platforms give them ("19.99"), so no amount is
// rounded through a float.
type Product struct {
	Title       string          `json:"title,omitempty"`
	BodyHTML    string          `json:"body_html,omitempty"`
	Vendor      string          `json:"vendor,omitempty"`
	ProductType string          `json:"product_type,omitempty"`
	Status      string          `json:"status,omitempty"` // active, draft, archived, unlisted
	Tags        []string        `json:"tags,omitempty"`
	Handle      string          `json:"handle,omitempty"`
	Options     []ProductOption `json:"options,omitempty"`
	Variants    []Variant       `json:"variants,omitempty"`
	Images      []ProductImage  `json:"images,omitempty"`
}

func (*Product) UnifiedModel() string { return ModelProduct }

// ProductImage is an image of a product.
type ProductImage struct {
	ExternalID string `json:"external_id,omitempty"`
	URL        string `json:"url"`
	Alt        string `json:"alt,omitempty"`
}

// ProductOption is one of a product's options (Size) and its values.
type ProductOption struct {
	ExternalID string   `json:"external_id,omitempty"`
	Name       string   `json:"name"`
	Values     []string `json:"values,omitempty"`
}

// Variant is one sellable combination of a product's option values.
type Variant struct {
	ExternalID        string        `json:"external_id,omitempty"`
	SKU               string        `json:"sku,omitempty"`
	Title             string        `json:"title,omitempty"`
	Price             string        `json:"price,omitempty"`
	CompareAtPrice    string        `json:"compare_at_price,omitempty"`
	InventoryQuantity *int          `json:"inventory_quantity,omitempty"`
	OptionValues      []OptionValue `json:"option_values,omitempty"`
}

// OptionValue is a variant's value of one option.
type OptionValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CalendarEvent is an event on a calendar.
type CalendarEvent struct {
	Calendar         *Ref       `json:"calendar,omitempty"`
	Title            string     `json:"title,omitempty"`
	Description      string     `json:"description,omitempty"`
	Location         string     `json:"location,omitempty"`
	Start            *When      `json:"start,omitempty"`
	End              *When      `json:"end,omitempty"`
	Status           string     `json:"status,omitempty"` // confirmed, tentative, cancelled
	Organizer        *Attendee  `json:"organizer,omitempty"`
	Attendees        []Attendee `json:"attendees,omitempty"`
	Recurrence       []string   `json:"recurrence,omitempty"` // RFC 5545 RRULE/EXDATE lines
	RecurringEventID string     `json:"recurring_event_id,omitempty"`
}

func (*CalendarEvent) UnifiedModel() string { return ModelCalendarEvent }

// When is a date (all day) or a moment with its time zone.
type When struct {
	Date     string `json:"date,omitempty"`      // 2026-12-01
	DateTime string `json:"date_time,omitempty"` // RFC 3339
	TimeZone string `json:"time_zone,omitempty"` // IANA name
}

// Attendee is a person invited to an event.
type Attendee struct {
	Email          string `json:"email,omitempty"`
	Name           string `json:"name,omitempty"`
	ResponseStatus string `json:"response_status,omitempty"` // needs_action, accepted, declined, tentative
}

// Ref names a record of another model: a calendar, a project.
type Ref struct {
	ExternalID string `json:"external_id"`
	Key        string `json:"key,omitempty"`
	Name       string `json:"name,omitempty"`
}

// Task is an issue or card of a project or board.
type Task struct {
	Project         *Ref        `json:"project,omitempty"`
	Status          *TaskStatus `json:"status,omitempty"`
	Title           string      `json:"title,omitempty"`
	DescriptionText string      `json:"description_text,omitempty"`
	DescriptionHTML string      `json:"description_html,omitempty"`
	Assignees       []User      `json:"assignees,omitempty"`
	Labels          []string    `json:"labels,omitempty"`
	Priority        *Ref        `json:"priority,omitempty"`
	Due             *When       `json:"due,omitempty"`
}

func (*Task) UnifiedModel() string { return ModelTask }

// TaskStatus is a task's platform status and its category.
type TaskStatus struct {
	ExternalID string `json:"external_id,omitempty"`
	Name       string `json:"name"`
	Category   string `json:"category"` // todo, in_progress, done
}

// User is a person on a platform.
type User struct {
	ExternalID string `json:"external_id,omitempty"`
	Name       string `json:"name,omitempty"`
	Email      string `json:"email,omitempty"`
}

// Conversation is a thread or chat on a messaging platform.
type Conversation struct {
	Channel      *Ref   `json:"channel,omitempty"`
	Title        string `json:"title,omitempty"`
	Participants []User `json:"participants,omitempty"`
	Status       string `json:"status,omitempty"` // open, closed
}

func (*Conversation) UnifiedModel() string { return ModelConversation }

// ChatMessage is one message of a conversation (model "message").
type ChatMessage struct {
	Channel      *Ref         `json:"channel,omitempty"`
	Conversation *Ref         `json:"conversation,omitempty"`
	Participants []User       `json:"participants,omitempty"`
	Direction    string       `json:"direction,omitempty"` // inbound, outbound
	Author       *User        `json:"author,omitempty"`
	Text         string       `json:"text,omitempty"`
	Attachments  []Attachment `json:"attachments,omitempty"`
	ReplyTo      *Ref         `json:"reply_to,omitempty"`
	SentAt       string       `json:"sent_at,omitempty"` // RFC 3339
	Status       string       `json:"status,omitempty"`  // sent, delivered, read, failed
}

func (*ChatMessage) UnifiedModel() string { return ModelMessage }

// Attachment is a file sent with a message.
type Attachment struct {
	ExternalID  string `json:"external_id,omitempty"`
	Name        string `json:"name,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	URL         string `json:"url,omitempty"`
	Size        int64  `json:"size,omitempty"`
}
